"""Running a command's work on a Dask distributed cluster (``--cluster``): connecting to one
or starting one on this machine (:mod:`.connect`), sending the work in chunks and taking the
results back in list order (:mod:`.ordered`), and what each worker runs (:mod:`.tasks`).

Dask is an optional extra (``pip install 'vggcli[cluster]'``); nothing else imports it.
"""

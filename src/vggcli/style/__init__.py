"""Gatys-style neural style transfer (lab manual §3.3): the losses, the optimisers, the
objective and its run loop, the job that prepares a run and the files a run writes."""

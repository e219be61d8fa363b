"""The engine: VGG19 as data (:mod:`.vgg19`), its parameters (:mod:`.weightset`) and class
names (:mod:`.labels`), the layers every backend shares (:mod:`.ops`), the network run layer by
layer (:mod:`.network`) and the convolution/pooling backends (:mod:`.backends`). What
``--backend`` builds sits above the engine and the DLP path, in :mod:`vggcli.models`."""

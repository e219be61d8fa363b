"""The engine: VGG19 as data (:mod:`.vgg19`), the layers every backend shares (:mod:`.ops`),
the network run layer by layer (:mod:`.network`), the convolution/pooling backends
(:mod:`.backends`) and what ``--backend`` builds (:mod:`.models`)."""

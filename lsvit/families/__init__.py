"""One folder per input type: everything that differs between data types lives in its family's folder.

A family is a data type plus the models that read it: its reader or extractor, file format, dataset, data
module, realtime step and the registered :class:`~lsvit.contracts.InputType` (``clips``, ``embeddings``,
``keypoints``). The models themselves are timm models in :mod:`lsvit.models`. :func:`lsvit.plugins.setup`
registers the built-in types; importing this package registers nothing.
"""

"""HMDB51: the official splits, archive preparation, and the data module.

HMDB51 is distributed as ``hmdb51_org.rar`` (a RAR holding 51 per-class RARs of ``.avi``
clips, 6,766 in all) and ``test_train_splits.rar`` (153 files
``<class>_test_split{1,2,3}.txt``, each line ``<clip>.avi <tag>`` with tag 1 = train,
2 = test, 0 = unused; 3,570 / 1,530 / 1,666 clips per split). Reproductions go wrong in
three places, which this module closes: wrong split membership, model selection on the
test part, and silently missing clips.

Prepared layout::

    datasets/hmdb51/videos/<class>/<clip>.avi     (or <class>/<clip>/frame_00001.jpg)
    datasets/hmdb51/splits/<class>_test_split<n>.txt

Modules, one job each: :mod:`~lsvit.data.hmdb51.splits` (the split files and the clips they name),
:mod:`~lsvit.data.hmdb51.download` (fetching the official archives),
:mod:`~lsvit.data.hmdb51.archives` (reading RAR archives), :mod:`~lsvit.data.hmdb51.prepare`
(building and verifying the prepared folder), :mod:`~lsvit.data.hmdb51.datamodule` (training on a split).
"""

from lsvit.lazy import lazy_exports

# imported on first use (lsvit.lazy): preparing the archives needs neither torch nor the data module
_SPLITS = ("HMDB51_CLASSES", "NUM_CLIPS", "SPLITS", "SPLIT_COUNTS", "SplitSets", "TAG_TEST", "TAG_TRAIN", "TAG_UNUSED",
           "load_split", "read_split_files", "resolve_clip", "source_of")
_DOWNLOAD = ("Archive", "DownloadError", "Unreachable", "download_file", "download_hmdb51", "hmdb51_archives")
_EXPORTS = {"HMDB51DataModule": "lsvit.data.hmdb51.datamodule", "PrepareReport": "lsvit.data.hmdb51.prepare",
            "prepare_hmdb51": "lsvit.data.hmdb51.prepare", "verify_hmdb51": "lsvit.data.hmdb51.prepare",
            **{name: "lsvit.data.hmdb51.splits" for name in _SPLITS},
            **{name: "lsvit.data.hmdb51.download" for name in _DOWNLOAD}}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""HMDB51: the official splits and archive preparation (training on a split: :mod:`lsvit.families.clips.hmdb51`).

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
(building and verifying the prepared folder), :mod:`~lsvit.families.clips.hmdb51` (training on a split).
"""

# light modules only (no torch): preparing or downloading the archives needs neither torch nor a data module
from lsvit.data.hmdb51.download import (
                                        Archive,
                                        DownloadError,
                                        Unreachable,
                                        download_file,
                                        download_hmdb51,
                                        hmdb51_archives,
)
from lsvit.data.hmdb51.prepare import PrepareReport, prepare_hmdb51, verify_hmdb51
from lsvit.data.hmdb51.splits import (
                                        HMDB51_CLASSES,
                                        NUM_CLIPS,
                                        SPLIT_COUNTS,
                                        SPLITS,
                                        TAG_TEST,
                                        TAG_TRAIN,
                                        TAG_UNUSED,
                                        SplitSets,
                                        load_split,
                                        read_split_files,
                                        resolve_clip,
                                        source_of,
)

__all__ = ["HMDB51_CLASSES", "NUM_CLIPS", "SPLITS", "SPLIT_COUNTS", "Archive", "DownloadError", "PrepareReport",
           "SplitSets", "TAG_TEST", "TAG_TRAIN", "TAG_UNUSED", "Unreachable", "download_file", "download_hmdb51",
           "hmdb51_archives", "load_split", "prepare_hmdb51", "read_split_files", "resolve_clip", "source_of",
           "verify_hmdb51"]

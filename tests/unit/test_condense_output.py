from paas.domain.lines import condense_output

GUNICORN_CRASH = """[INFO] Starting gunicorn 21.2.0
[INFO] Booting worker with pid: 7
boom: DATABASE_URL is not set
[INFO] Worker exiting (pid: 7)
[ERROR] Worker (pid:7) exited with code 3
[ERROR] Shutting down: Master
[ERROR] Reason: Worker failed to boot.
Traceback (most recent call last):
  File "/app/.venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 209, in run
    self.sleep()
  File "/app/.venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 357, in sleep
    ready = select.select([self.PIPE[0]], [], [], 1.0)
            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/app/.venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 242, in handle_chld
    self.reap_workers()
  File "/app/.venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 530, in reap_workers
    raise HaltServer(reason, self.WORKER_BOOT_ERROR)
gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/.venv/bin/gunicorn", line 8, in <module>
    sys.exit(run())
  File "/app/.venv/lib/python3.11/site-packages/gunicorn/app/wsgiapp.py", line 67, in run
    WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]", prog=prog).run()
  File "/app/.venv/lib/python3.11/site-packages/gunicorn/app/base.py", line 236, in run
    super().run()
  File "/app/.venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 229, in run
    self.halt(reason=inst.reason, exit_status=inst.exit_status)
  File "/app/.venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 342, in halt
    self.stop()
gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>""".splitlines()


def test_a_process_managers_traceback_leaves_the_apps_own_message_in_the_last_lines():
    assert "boom: DATABASE_URL is not set" not in GUNICORN_CRASH[-20:]  # what a plain tail kept
    kept = condense_output(GUNICORN_CRASH, 20)
    assert "boom: DATABASE_URL is not set" in kept
    assert kept[-1] == "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>"
    # The innermost frame stays, with their source lines; the outer ones are counted.
    assert '    raise HaltServer(reason, self.WORKER_BOOT_ERROR)' in kept
    assert "  ... (3 outer frames left out)" in kept and "  ... (4 outer frames left out)" in kept
    assert not any("wsgiapp.py" in line for line in kept)


def test_output_without_tracebacks_is_a_plain_tail():
    lines = [f"line {n}" for n in range(50)]
    assert condense_output(lines, 20) == lines[-20:]
    assert condense_output(lines[:3], 20) == lines[:3]


def test_an_apps_own_short_traceback_is_kept_whole():
    lines = ["Traceback (most recent call last):", '  File "/app/app.py", line 3, in <module>',
             "    import missing", "ModuleNotFoundError: No module named 'missing'"]
    assert condense_output(lines, 20) == lines

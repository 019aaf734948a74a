"""Sanic's worker manager, made to restart dead workers and to signal only its own processes.

Sanic (25.12) leaves a worker that died (SIGKILL, out of memory) dead and says nothing, so the service
runs on fewer workers until a full restart; when a worker fails to start it SIGKILLs the worker's whole
process group, which is the group of the shell or supervisor that ran `dengji serve`; and a stop signal
that arrives while workers start makes its start-up wait spin on its own message (a core at ~50 %)
forever. Stopping while workers start has two more faults: the stop signal's handler talks to the shared
worker-state proxy, so a signal that lands inside another call on that proxy corrupts both (the service
dies with a traceback and leaves its workers running); and a worker that is still being spawned, or is
between ignoring signals and installing its own handler, loses the SIGINT it is sent, starts, and serves
on while the manager waits for it forever. Sanic offers no hook for these, so `dengji serve` switches the
manager it built to this subclass in a `main_process_ready` listener (`adopt`).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from contextlib import suppress

from sanic.exceptions import ServerKilled
from sanic.worker.manager import MonitorCycle, WorkerManager
from sanic.worker.process import ProcessState

log = logging.getLogger("dengji.manager")

# A worker that keeps dying right after its restart is not restarted forever: after this many restarts
# within RESTART_WINDOW seconds the whole service stops (a supervisor such as systemd takes over).
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
# A stopping worker that is still alive this long after its last stop signal is SIGKILLed (logged). The
# worker's own graceful stop (GRACEFUL_SHUTDOWN_TIMEOUT, 3 s, plus closing its pools) fits well within it.
STOP_GRACE = 12.0


class DengjiWorkerManager(WorkerManager):
    """A WorkerManager that restarts dead server workers (logged) and signals only its own children."""

    def _sync_states(self) -> None:
        super()._sync_states()
        if self._shutting_down:
            return
        for process in self.transient_processes:
            if process.state in (ProcessState.FAILED, ProcessState.COMPLETED) and not process.is_alive():
                self._restart_dead(process)

    def _restart_dead(self, process) -> None:
        history = self.__dict__.setdefault("_dengji_restarts", [])
        now = time.monotonic()
        history[:] = [t for t in history if now - t < RESTART_WINDOW]
        code = process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        if len(history) >= MAX_RESTARTS:
            log.error("worker %s [%s] died (%s); %d restarts in %.0f s, stopping the service",
                      process.name, process.pid, how, len(history), RESTART_WINDOW)
            self.shutdown()
            return
        history.append(now)
        log.error("worker %s [%s] died (%s); restarting it", process.name, process.pid, how)
        self.restart(process_names=[process.name])
        log.warning("worker %s restarted as [%s]", process.name, process.pid)

    def shutdown_signal(self, signum, frame) -> None:
        """Only note the signal: the main loop acts on it (see the module's docstring for why)."""
        if self.__dict__.get("_dengji_stop_signal") is None:
            self._dengji_stop_signal = signum
            return
        # A second signal: the operator wants it over now. os.kill only, no proxy call, no raise.
        for process in self.processes:
            with suppress(ProcessLookupError, TypeError):
                os.kill(process.pid, signal.SIGKILL)

    def _stop_requested(self) -> bool:
        """Act on a noted stop signal (once); True once the service is stopping."""
        signum = self.__dict__.get("_dengji_stop_signal")
        if signum is not None and not self._shutting_down:
            log.info("received signal %s; stopping", signal.Signals(signum).name)
            self.shutdown()
            self._dengji_stop_sent = time.monotonic()
        return self._shutting_down

    def monitor(self) -> None:
        """Sanic's monitor loop, also stopping on a noted stop signal."""
        self.wait_for_ack()
        while not self._stop_requested():
            cycle = self._poll_monitor()
            if cycle is MonitorCycle.BREAK:
                break
            if cycle is MonitorCycle.CONTINUE:
                continue
            self._sync_states()
            self._cleanup_non_tracked_workers()

    def wait_for_ack(self) -> None:
        """Wait for every worker to report ready; give up on a stop signal or a worker that failed."""
        deadline = time.monotonic() + self.THRESHOLD / 10
        held = []
        while not self._all_workers_ack():
            if self._stop_requested():
                break
            # A worker killed while starting (OOM, an operator's kill) never reports ready and sends no
            # message: restart it here too, and give its successor the full start-up time.
            if self._restart_dead_starting():
                deadline = time.monotonic() + self.THRESHOLD / 10
            if time.monotonic() > deadline:
                log.error("workers did not report ready within %.0f s; stopping", self.THRESHOLD / 10)
                self.kill()
            if not self.monitor_subscriber.poll(0.1):
                continue
            message = self.monitor_subscriber.recv()
            if message == "__TERMINATE_EARLY__":
                log.error("a worker failed while starting (see the error above); stopping")
                self.kill()
            held.append(message)  # e.g. a restart request: handled once everyone is up
        for message in held:
            self.monitor_publisher.send(message)

    def join(self) -> None:
        """Wait for the workers to stop, signalling again one that missed its signal, killing one that hangs."""
        sent = self.__dict__.get("_dengji_stop_sent", time.monotonic())
        while alive := [process for process in self.processes if process.is_alive()]:
            for process in alive:
                # A worker reports ready after shutdown() marked it TERMINATED only if it started serving
                # without its stop signal: send it again, now that its handler is installed.
                with suppress(Exception):
                    if self.worker_state[process.name].get("state") == ProcessState.ACKED.name:
                        log.warning("worker %s [%s] missed its stop signal; signalling it again",
                                    process.name, process.pid)
                        process.set_state(ProcessState.TERMINATED, force=True)
                        os.kill(process.pid, signal.SIGINT)
                        sent = time.monotonic()
            if time.monotonic() - sent > STOP_GRACE:
                for process in alive:
                    log.error("worker %s [%s] did not stop within %.0f s; killing it",
                              process.name, process.pid, STOP_GRACE)
                    with suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGKILL)
                sent = time.monotonic()
            time.sleep(0.1)
        super().join()

    def _restart_dead_starting(self) -> bool:
        restarted = False
        for process in self.transient_processes:
            if process.state in (ProcessState.IDLE, ProcessState.RESTARTING) or process.is_alive():
                continue
            # Only a death by signal: a worker whose start-up raised exits with a code and says so
            # (__TERMINATE_EARLY__), and restarting it would only fail again.
            if process.exitcode is None or process.exitcode >= 0:
                continue
            self._restart_dead(process)
            if self._shutting_down:
                break
            restarted = True
        return restarted

    def kill(self) -> None:
        """SIGKILL this manager's workers, and nothing else."""
        for process in self.processes:
            with suppress(ProcessLookupError, TypeError):
                os.kill(process.pid, signal.SIGKILL)
        raise ServerKilled


def adopt(app, _loop=None) -> None:
    """Switch the manager `Sanic.serve` built for `app` to DengjiWorkerManager (main process only)."""
    manager = getattr(app, "_manager", None)
    if manager is not None and type(manager) is WorkerManager:
        manager.__class__ = DengjiWorkerManager
        # Sanic installed its own bound handler before the switch; install ours.
        signal.signal(signal.SIGINT, manager.shutdown_signal)
        signal.signal(signal.SIGTERM, manager.shutdown_signal)

"""Jobs API 2.0/2.1/2.2: runs/submit, runs/get, get-output, cancel, list, delete and jobs/*."""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Callable

from .calls import redact
from .errors import ApiError, invalid
from .faults import BehaviourQueue
from .job_settings import apply_legacy_params, task_spec, validate_settings
from .routing import (
    Request,
    Router,
    check_dict,
    check_int,
    check_list,
    check_str,
    check_str_list,
    check_str_map,
)
from .runs import FAILED_RESULTS, TERMINAL, Run, TaskRun
from .scheduling import RunManager
from .util import now_ms, prune, to_bool, to_int


class JobService:
    """Jobs and runs endpoints; runs execute through the RunManager."""

    def __init__(self, manager: RunManager, behaviours: BehaviourQueue) -> None:
        self.manager = manager
        self.behaviours = behaviours
        self._lock = threading.Lock()
        self.jobs: dict[int, dict] = {}
        self._idempotency: dict[str, int] = {}
        self._numbers: dict[int, int] = {}
        self._next_job_id = 100000000000000 + (now_ms() % 10**9)
        # Workspace-wide checks of settings to run (serverless compute switched off, ...).
        self.checks: list[Callable[[dict], None]] = []

    def _validate(self, settings: dict, submit: bool) -> None:
        validate_settings(settings, submit=submit)
        for check in self.checks:
            check(settings)

    def reset(self) -> None:
        """Forget jobs and idempotency tokens (runs are cleared by the RunManager)."""
        with self._lock:
            self.jobs.clear()
            self._idempotency.clear()
            self._numbers.clear()

    def register(self, router: Router) -> None:
        """Add the jobs routes under /api/2.0, 2.1 and 2.2."""
        base = r"/api/2\.[012]/jobs/"
        router.add("POST", base + "runs/submit", self.submit)
        router.add("GET", base + "runs/get", self.get_run)
        router.add("GET", base + "runs/get-output", self.get_output)
        router.add("POST", base + "runs/cancel", self.cancel)
        router.add("POST", base + "runs/cancel-all", self.cancel_all)
        router.add("GET", base + "runs/list", self.list_runs)
        router.add("POST", base + "runs/delete", self.delete_run)
        router.add("POST", base + "runs/repair", self.repair_run)
        router.add("POST", base + "create", self.create)
        router.add("GET", base + "get", self.get)
        router.add("GET", base + "list", self.list)
        router.add("POST", base + "delete", self.delete)
        router.add("POST", base + "reset", self.reset_job)
        router.add("POST", base + "update", self.update_job)
        router.add("POST", base + "run-now", self.run_now)

    # ---- helpers -------------------------------------------------------------------------------

    def _new_job_id(self) -> int:
        with self._lock:
            self._next_job_id += 1
            return self._next_job_id

    def _number(self, job_id: int) -> int:
        with self._lock:
            self._numbers[job_id] = self._numbers.get(job_id, 0) + 1
            return self._numbers[job_id]

    def _lookup(self, req: Request) -> tuple[Run, TaskRun | None]:
        run_id = req.int_param("run_id", required=True)
        found = self.manager.find(run_id)
        if found is None:
            raise invalid(f"Run {run_id} does not exist.")
        return found

    def _job(self, req: Request) -> dict:
        return self.job_by_id(req.int_param("job_id", required=True))

    def job_by_id(self, job_id: int) -> dict:
        """The stored job, or 400 "Job N does not exist."."""
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise invalid(f"Job {job_id} does not exist.")
        return job

    def _idempotent(self, token: object) -> int | None:
        token = check_str(token, "idempotency_token")
        if not token:
            return None
        if len(token) > 64:
            raise invalid("idempotency_token must be at most 64 characters.")
        with self._lock:
            return self._idempotency.get(token)

    def _start_run(self, run: Run, token: str | None) -> Run:
        with self._lock:
            if token:
                existing = self._idempotency.get(token)
                if existing is not None:
                    found = self.manager.find(existing)
                    if found is not None:
                        return found[0]
                self._idempotency[token] = run.run_id
        self.manager.start(run)
        return run

    def _build_run(
        self,
        req: Request,
        settings: dict,
        run_type: str,
        job_id: int,
        job_parameters: list[dict] | None = None,
        overriding: dict | None = None,
    ) -> Run:
        run_id = self.manager.new_id()
        params = {p["name"]: p.get("value", p.get("default")) for p in job_parameters or []}
        tasks = []
        for raw in settings.get("tasks") or []:
            task_run_id = self.manager.new_id()
            spec = task_spec(raw, settings, job_id, run_id, task_run_id, params)
            tasks.append(
                TaskRun(
                    run_id=task_run_id,
                    key=spec["task_key"],
                    spec=spec,
                    depends_on=[d["task_key"] for d in spec.get("depends_on") or []],
                    run_if=spec.get("run_if") or "ALL_SUCCESS",
                    timeout_seconds=check_int(spec.get("timeout_seconds"), "timeout_seconds", 0)
                    or 0,
                )
            )
        name = settings.get("run_name") or settings.get("name") or "Untitled"
        queue = settings.get("queue") or {}
        return Run(
            max_concurrent_runs=(
                int(settings.get("max_concurrent_runs") or 1) if run_type == "JOB_RUN" else 0
            ),
            queue_enabled=bool(queue.get("enabled")),
            run_id=run_id,
            job_id=job_id,
            number_in_job=self._number(job_id) if run_type == "JOB_RUN" else run_id,
            run_name=name,
            run_type=run_type,
            creator=req.user,
            tasks=tasks,
            timeout_seconds=check_int(settings.get("timeout_seconds"), "timeout_seconds", 0) or 0,
            behaviour=self.behaviours.next(),
            job_clusters=copy.deepcopy(settings.get("job_clusters") or []),
            environments=copy.deepcopy(settings.get("environments") or []),
            job_parameters=job_parameters or [],
            overriding_parameters=overriding or {},
            trigger="ONE_TIME" if run_type == "JOB_RUN" else None,
        )

    # ---- runs ----------------------------------------------------------------------------------

    def submit(self, req: Request) -> dict:
        """POST runs/submit: validate, start a run, answer {run_id}."""
        body = req.json()
        existing = self._idempotent(body.get("idempotency_token"))
        if existing is not None:
            return {"run_id": existing}
        self._validate(body, submit=True)
        job_id = self._new_job_id()
        run = self._build_run(req, body, "SUBMIT_RUN", job_id)
        run = self._start_run(run, body.get("idempotency_token"))
        return {"run_id": run.run_id}

    def get_run(self, req: Request) -> dict:
        """GET runs/get (parent or task run id)."""
        run, task = self._lookup(req)
        if task is not None:
            return self.manager.render_task_run(run, task)
        return self.manager.render(run, include_history=to_bool(req.query.get("include_history")))

    def get_output(self, req: Request) -> dict:
        """GET runs/get-output: needs a task run id unless the run has a single task."""
        run, task = self._lookup(req)
        if task is None:
            if len(run.tasks) != 1:
                raise invalid(
                    "Retrieving the output of runs with multiple tasks is not supported. Please "
                    "retrieve the output of each individual task run instead."
                )
            task = run.tasks[0]
        with self.manager.cond:
            output = copy.deepcopy(task.output) if task.life in TERMINAL else {}
        # As on Databricks, a secret scope's values never show in a run's output: a task that
        # prints what dbutils.secrets.get returned shows [REDACTED].
        known = self.manager.secrets.secret_values()
        output = {key: redact(value, known) for key, value in output.items()}
        output["metadata"] = self.manager.render_task_run(run, task)
        return prune(output)

    def cancel(self, req: Request) -> dict:
        """POST runs/cancel: asynchronous; a finished run is left alone."""
        run, _ = self._lookup(req)
        self.manager.cancel(run)
        return {}

    def cancel_all(self, req: Request) -> dict:
        """POST runs/cancel-all {job_id}: cancel the job's active runs."""
        job = self._job(req)
        for run in self.manager.all_runs():
            if run.job_id == job["job_id"] and not run.done():
                self.manager.cancel(run)
        return {}

    def repair_run(self, req: Request) -> dict:
        """POST runs/repair: rerun the given (or all failed) tasks of a finished run."""
        body = req.json()
        run, task = self._lookup(req)
        if task is not None:
            raise invalid(f"Run {task.run_id} is a task run: repair its job run {run.run_id}.")
        rerun = check_str_list(body.get("rerun_tasks"), "rerun_tasks")
        all_failed = body.get("rerun_all_failed_tasks")
        if all_failed is not None and not isinstance(all_failed, bool):
            raise invalid("Invalid value for field 'rerun_all_failed_tasks': a boolean.")
        dependents = body.get("rerun_dependent_tasks")
        if dependents is not None and not isinstance(dependents, bool):
            raise invalid("Invalid value for field 'rerun_dependent_tasks': a boolean.")
        latest = check_int(body.get("latest_repair_id"), "latest_repair_id")
        given = check_str_map(body.get("job_parameters"), "job_parameters")
        if bool(rerun) == bool(all_failed):
            raise invalid("Exactly one of rerun_tasks or rerun_all_failed_tasks must be specified.")
        with self.manager.cond:
            current = {t.key: t for t in run.current()}
            repairs = [c["id"] for c in run.cycles[1:]]
            if repairs and latest != repairs[-1]:
                raise invalid(
                    f"The latest repair of run {run.run_id} is {repairs[-1]}: pass it as "
                    "latest_repair_id."
                )
            if not repairs and latest is not None:
                raise invalid(f"Run {run.run_id} has no repair {latest}.")
            unknown = sorted(set(rerun) - set(current))
            if unknown:
                raise invalid(f"Task(s) {', '.join(unknown)} do not exist in run {run.run_id}.")
            if all_failed:
                rerun = [
                    k
                    for k, t in current.items()
                    if t.result in FAILED_RESULTS or t.life == "INTERNAL_ERROR"
                ]
                if not rerun:
                    raise invalid(f"Run {run.run_id} has no failed tasks to repair.")
            keys = set(rerun)
            if dependents:
                changed = True
                while changed:
                    changed = False
                    for key, t in current.items():
                        if key not in keys and keys & set(t.depends_on):
                            keys.add(key)
                            changed = True
            ordered = [k for k in current if k in keys]
            if given:
                known = {p["name"] for p in run.job_parameters}
                missing = sorted(set(given) - known)
                if missing:
                    raise invalid(
                        f"Job parameter(s) {', '.join(missing)} are not defined in the job."
                    )
                for param in run.job_parameters:
                    if param["name"] in given:
                        param["value"] = str(given[param["name"]])
            params = {p["name"]: p.get("value", p.get("default")) for p in run.job_parameters}
            with self._lock:
                job = self.jobs.get(run.job_id)
            settings = copy.deepcopy(job["settings"]) if job else {"name": run.run_name}
            raw_tasks = {t["task_key"]: t for t in settings.get("tasks") or []}

            def build_spec(key: str, task_run_id: int) -> dict:
                # the service reruns with the job's current task settings; a one-time run (or a
                # deleted job) keeps the spec it ran with
                raw = raw_tasks.get(key)
                if raw is None:
                    return copy.deepcopy(current[key].spec)
                spec = task_spec(raw, settings, run.job_id, run.run_id, task_run_id, params)
                apply_legacy_params(spec, run.overriding_parameters)
                return spec

            repair_id = self.manager.repair(run, ordered, build_spec)
        return {"repair_id": repair_id}

    def delete_run(self, req: Request) -> dict:
        """POST runs/delete: only runs that are not active."""
        run, _ = self._lookup(req)
        if not run.done():
            raise ApiError(
                400, "INVALID_STATE", f"Run {run.run_id} is active and cannot be deleted."
            )
        self.manager.delete(run)
        return {}

    def list_runs(self, req: Request) -> dict:
        """GET runs/list: newest first, limit (1..25, default 20)/offset or page_token."""
        q = req.query
        active_only = to_bool(q.get("active_only"))
        completed_only = to_bool(q.get("completed_only"))
        if active_only and completed_only:
            raise invalid("active_only and completed_only cannot both be true.")
        limit = to_int(q.get("limit"), "limit", 20)
        if not 1 <= limit <= 25:
            raise invalid(f"Limit {limit} is out of range: it must be between 1 and 25.")
        offset = _page_offset(q.get("page_token"), to_int(q.get("offset"), "offset", 0))
        job_id = to_int(q.get("job_id"), "job_id")
        start_from = to_int(q.get("start_time_from"), "start_time_from")
        start_to = to_int(q.get("start_time_to"), "start_time_to")
        runs = [
            r
            for r in self.manager.all_runs()
            if (job_id is None or r.job_id == job_id)
            and (not active_only or not r.done())
            and (not completed_only or r.done())
            and (not q.get("run_type") or r.run_type == q.get("run_type"))
            and (start_from is None or r.start_time >= start_from)
            and (start_to is None or r.start_time <= start_to)
        ]
        page = runs[offset : offset + limit]
        expand = to_bool(q.get("expand_tasks"))
        result: dict = {"has_more": offset + limit < len(runs)}
        if page:
            result["runs"] = [self.manager.render(r, include_tasks=expand) for r in page]
        if result["has_more"]:
            result["next_page_token"] = _token(offset + limit)
        if offset > 0:
            result["prev_page_token"] = _token(max(0, offset - limit))
        return result

    # ---- jobs ----------------------------------------------------------------------------------

    def create(self, req: Request) -> dict:
        """POST jobs/create."""
        body = req.json()
        job_id = self.create_job(body, req.user)
        return {"job_id": job_id}

    def create_job(self, settings: dict, user: str) -> int:
        """Validate and store job settings; return the new job id (shared with the admin API)."""
        settings = copy.deepcopy(settings)
        settings.pop("access_control_list", None)
        self._validate(settings, submit=False)
        settings.setdefault("name", "Untitled")
        settings.setdefault("max_concurrent_runs", 1)
        settings.setdefault("timeout_seconds", 0)
        settings.setdefault("format", "MULTI_TASK")
        settings.setdefault("email_notifications", {})
        job_id = self._new_job_id()
        with self._lock:
            self.jobs[job_id] = {
                "job_id": job_id,
                "creator_user_name": user,
                "run_as_user_name": user,
                "created_time": now_ms(),
                "settings": settings,
            }
        return job_id

    def get(self, req: Request) -> dict:
        """GET jobs/get."""
        job = self._job(req)
        return prune({**copy.deepcopy(job), "has_more": False})

    def list(self, req: Request) -> dict:
        """GET jobs/list: by job id, limit (1..100, default 20)/offset or page_token."""
        q = req.query
        limit = to_int(q.get("limit"), "limit", 20)
        if not 1 <= limit <= 100:
            raise invalid(f"Limit {limit} is out of range: it must be between 1 and 100.")
        offset = _page_offset(q.get("page_token"), to_int(q.get("offset"), "offset", 0))
        expand = to_bool(q.get("expand_tasks"))
        with self._lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j["job_id"])
        if q.get("name"):
            jobs = [j for j in jobs if j["settings"].get("name") == q["name"]]
        page = jobs[offset : offset + limit]
        rendered = []
        for job in page:
            entry = copy.deepcopy(job)
            entry.pop("run_as_user_name", None)
            if not expand:
                for key in ("tasks", "job_clusters", "environments", "parameters"):
                    entry["settings"].pop(key, None)
            else:
                entry["has_more"] = False
            rendered.append(prune(entry))
        result: dict = {"has_more": offset + limit < len(jobs)}
        if rendered:
            result["jobs"] = rendered
        if result["has_more"]:
            result["next_page_token"] = _token(offset + limit)
        if offset > 0:
            result["prev_page_token"] = _token(max(0, offset - limit))
        return result

    def delete(self, req: Request) -> dict:
        """POST jobs/delete."""
        job = self._job(req)
        with self._lock:
            self.jobs.pop(job["job_id"], None)
        return {}

    def reset_job(self, req: Request) -> dict:
        """POST jobs/reset: replace all settings."""
        job = self._job(req)
        settings = copy.deepcopy(req.dict_param("new_settings"))
        self._validate(settings, submit=False)
        settings.setdefault("name", "Untitled")
        settings.setdefault("format", "MULTI_TASK")
        with self._lock:
            job["settings"] = settings
        return {}

    def update_job(self, req: Request) -> dict:
        """POST jobs/update: merge new_settings (tasks/job_clusters by key); fields_to_remove."""
        job = self._job(req)
        settings = copy.deepcopy(job["settings"])
        for name, value in copy.deepcopy(req.dict_param("new_settings")).items():
            if name in ("tasks", "job_clusters"):
                key = "task_key" if name == "tasks" else "job_cluster_key"
                merged = {item[key]: item for item in settings.get(name) or []}
                for index, item in enumerate(check_list(value, f"new_settings.{name}")):
                    item = check_dict(item, f"new_settings.{name}[{index}]")
                    item_key = check_str(item.get(key), f"new_settings.{name}[{index}].{key}")
                    if not item_key:
                        raise invalid(f"new_settings.{name}[{index}].{key} is required.")
                    merged[item_key] = item
                settings[name] = list(merged.values())
            else:
                settings[name] = value
        for field_name in check_str_list(req.body_param("fields_to_remove"), "fields_to_remove"):
            settings.pop(field_name, None)
        self._validate(settings, submit=False)
        with self._lock:
            job["settings"] = settings
        return {}

    def run_now(self, req: Request) -> dict:
        """POST jobs/run-now: job_parameters, legacy python/notebook params, `only`."""
        body = req.json()
        job = self._job(req)
        existing = self._idempotent(body.get("idempotency_token"))
        if existing is not None:
            found = self.manager.find(existing)
            number = found[0].number_in_job if found else 0
            return {"run_id": existing, "number_in_job": number}
        settings = copy.deepcopy(job["settings"])
        for check in self.checks:
            check(settings)
        defined = {p["name"]: p.get("default", "") for p in settings.get("parameters") or []}
        given = check_str_map(body.get("job_parameters"), "job_parameters")
        legacy: dict = {}
        for name in ("python_params", "jar_params"):
            if body.get(name):
                legacy[name] = check_str_list(body[name], name)
        for name in ("notebook_params", "python_named_params"):
            if body.get(name):
                legacy[name] = check_str_map(body[name], name)
        if defined and legacy:
            raise invalid(
                "Legacy task parameters (python_params, notebook_params, ...) cannot be used "
                "with a job that defines job parameters; use job_parameters."
            )
        unknown = sorted(set(given) - set(defined))
        if unknown:
            raise invalid(f"Job parameter(s) {', '.join(unknown)} are not defined in the job.")
        job_parameters = [
            {"name": name, "default": default, "value": str(given.get(name, default))}
            for name, default in defined.items()
        ]
        only = check_str_list(body.get("only"), "only")
        if only:
            keys = {t["task_key"] for t in settings.get("tasks") or []}
            missing = sorted(set(only) - keys)
            if missing:
                raise invalid(f"Task(s) {', '.join(missing)} in `only` do not exist in the job.")
            settings["tasks"] = [t for t in settings["tasks"] if t["task_key"] in only]
            for task in settings["tasks"]:
                deps = [d for d in task.get("depends_on") or [] if d["task_key"] in only]
                task["depends_on"] = deps
        for task in settings.get("tasks") or []:
            apply_legacy_params(task, legacy)
        if body.get("queue") is not None:
            settings["queue"] = check_dict(body.get("queue"), "queue")
        run = self._build_run(
            req, settings, "JOB_RUN", job["job_id"], job_parameters, _overriding(legacy)
        )
        run = self._start_run(run, body.get("idempotency_token"))
        return {"run_id": run.run_id, "number_in_job": run.number_in_job}


def _overriding(legacy: dict) -> dict:
    return {k: copy.deepcopy(v) for k, v in legacy.items()}


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _page_offset(token: str | None, offset: int | None) -> int:
    if token:
        try:
            decoded = base64.urlsafe_b64decode(token.encode()).decode()
            return int(decoded.split(":", 1)[1])
        except (ValueError, IndexError) as exc:
            raise invalid("Invalid page_token.") from exc
    if offset is not None and offset < 0:
        raise invalid("offset must be non-negative.")
    return offset or 0

"""Jobs API 2.0/2.1/2.2: runs/submit, runs/get, get-output, cancel, list, delete and jobs/*."""

from __future__ import annotations

import base64
import copy
import re
import threading

from .calls import redact
from .errors import ApiError, invalid
from .faults import BehaviourQueue
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

SUPPORTED_TASK_TYPES = ("spark_python_task", "notebook_task", "python_wheel_task")
OTHER_TASK_TYPES = (
    "spark_jar_task",
    "spark_submit_task",
    "sql_task",
    "dbt_task",
    "dbt_cloud_task",
    "dbt_platform_task",
    "pipeline_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
    "gen_ai_compute_task",
)
RUN_IF_VALUES = (
    "ALL_SUCCESS",
    "ALL_DONE",
    "NONE_FAILED",
    "AT_LEAST_ONE_SUCCESS",
    "ALL_FAILED",
    "AT_LEAST_ONE_FAILED",
)
# The service's task_key pattern (`^[\w\-\_]+$`, at most 100 characters). No dots, no slashes:
# a key is also a directory name under the run's directory.
_TASK_KEY_RE = re.compile(r"[\w\-]{1,100}", re.ASCII)
_REF_RE = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")


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
            spec = _task_spec(raw, settings, job_id, run_id, task_run_id, params)
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
        validate_settings(body, submit=True)
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
                spec = _task_spec(raw, settings, run.job_id, run.run_id, task_run_id, params)
                _apply_legacy_params(spec, run.overriding_parameters)
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
        validate_settings(settings, submit=False)
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
        validate_settings(settings, submit=False)
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
        validate_settings(settings, submit=False)
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
            _apply_legacy_params(task, legacy)
        if body.get("queue") is not None:
            settings["queue"] = check_dict(body.get("queue"), "queue")
        run = self._build_run(
            req, settings, "JOB_RUN", job["job_id"], job_parameters, _overriding(legacy)
        )
        run = self._start_run(run, body.get("idempotency_token"))
        return {"run_id": run.run_id, "number_in_job": run.number_in_job}


def validate_settings(settings: dict, submit: bool) -> None:
    """Reject what the service rejects, and what local-databricks cannot run, with 400s."""
    _check_shapes(settings)
    if settings.get("git_source"):
        raise invalid(
            "git_source is not supported by local-databricks: upload the files to the workspace, "
            "a volume or DBFS (or use a file:/ path) and reference them with source WORKSPACE."
        )
    tasks = settings.get("tasks")
    if submit and not tasks:
        raise invalid("At least one task is required.")
    if tasks is not None and not isinstance(tasks, list):
        raise invalid("tasks must be a list.")
    job_clusters = {c.get("job_cluster_key") for c in settings.get("job_clusters") or []}
    for cluster in settings.get("job_clusters") or []:
        if not cluster.get("job_cluster_key") or not isinstance(cluster.get("new_cluster"), dict):
            raise invalid("Each job cluster needs a job_cluster_key and a new_cluster.")
    environments = {e.get("environment_key") for e in settings.get("environments") or []}
    keys: set[str] = set()
    for task in tasks or []:
        _validate_task(task, keys, job_clusters, environments)
    graph = {t["task_key"]: [d["task_key"] for d in t.get("depends_on") or []] for t in tasks or []}
    for task_key, deps in graph.items():
        for dep in deps:
            if dep not in graph:
                raise invalid(f"Task {task_key} depends on {dep}, which does not exist.")
    _check_acyclic(graph)
    timeout = settings.get("timeout_seconds")
    if timeout is not None and (not isinstance(timeout, int) or timeout < 0):
        raise invalid("timeout_seconds must be a non-negative integer.")


def _check_shapes(settings: dict) -> None:
    """400 naming the field for every wrong-typed field local-databricks reads."""
    check_str(settings.get("name"), "name")
    check_str(settings.get("run_name"), "run_name")
    check_int(settings.get("timeout_seconds"), "timeout_seconds")
    check_int(settings.get("max_concurrent_runs"), "max_concurrent_runs")
    check_dict(settings.get("queue"), "queue")
    for index, cluster in enumerate(check_list(settings.get("job_clusters"), "job_clusters")):
        where = f"job_clusters[{index}]"
        cluster = _entry(cluster, where)
        check_str(cluster.get("job_cluster_key"), f"{where}.job_cluster_key")
        _check_cluster_spec(cluster.get("new_cluster"), f"{where}.new_cluster")
    for index, env in enumerate(check_list(settings.get("environments"), "environments")):
        env = _entry(env, f"environments[{index}]")
        check_str(env.get("environment_key"), f"environments[{index}].environment_key")
        check_dict(env.get("spec"), f"environments[{index}].spec")
    for index, param in enumerate(check_list(settings.get("parameters"), "parameters")):
        param = _entry(param, f"parameters[{index}]")
        if not check_str(param.get("name"), f"parameters[{index}].name"):
            raise invalid(f"parameters[{index}].name is required.")
        default = param.get("default")
        if default is not None and not isinstance(default, (str, int, float)):
            raise invalid(f"Invalid value for field 'parameters[{index}].default': a string.")
    for index, task in enumerate(check_list(settings.get("tasks"), "tasks")):
        _check_task_shape(_entry(task, f"tasks[{index}]"), f"tasks[{index}]")


def _entry(value: object, where: str) -> dict:
    """An array entry that must be an object (null included: `tasks: [null]` is refused)."""
    if not isinstance(value, dict):
        raise invalid(f"Invalid value for field '{where}': expected an object, got {value!r:.80}.")
    return value


def _check_cluster_spec(spec: object, where: str) -> None:
    if spec is None:
        return
    spec = check_dict(spec, where)
    check_str_map(spec.get("spark_env_vars"), f"{where}.spark_env_vars")
    check_str_map(spec.get("spark_conf"), f"{where}.spark_conf")
    check_dict(spec.get("custom_tags"), f"{where}.custom_tags")
    check_int(spec.get("num_workers"), f"{where}.num_workers")
    check_str(spec.get("spark_version"), f"{where}.spark_version")
    check_str(spec.get("node_type_id"), f"{where}.node_type_id")
    log_conf = check_dict(spec.get("cluster_log_conf"), f"{where}.cluster_log_conf")
    dbfs = check_dict(log_conf.get("dbfs"), f"{where}.cluster_log_conf.dbfs")
    check_str(dbfs.get("destination"), f"{where}.cluster_log_conf.dbfs.destination")


def _check_task_shape(task: dict, where: str) -> None:
    check_str(task.get("task_key"), f"{where}.task_key")
    for name in ("existing_cluster_id", "job_cluster_key", "environment_key", "run_if"):
        check_str(task.get(name), f"{where}.{name}")
    check_int(task.get("timeout_seconds"), f"{where}.timeout_seconds")
    check_int(task.get("max_retries"), f"{where}.max_retries")
    check_int(task.get("min_retry_interval_millis"), f"{where}.min_retry_interval_millis")
    _check_cluster_spec(task.get("new_cluster"), f"{where}.new_cluster")
    for index, dep in enumerate(check_list(task.get("depends_on"), f"{where}.depends_on")):
        dep = _entry(dep, f"{where}.depends_on[{index}]")
        check_str(dep.get("task_key"), f"{where}.depends_on[{index}].task_key")
    check_list(task.get("libraries"), f"{where}.libraries")
    python = task.get("spark_python_task")
    if python is not None:
        python = check_dict(python, f"{where}.spark_python_task")
        check_str(python.get("python_file"), f"{where}.spark_python_task.python_file")
        check_str(python.get("source"), f"{where}.spark_python_task.source")
        check_str_list(python.get("parameters"), f"{where}.spark_python_task.parameters")
    notebook = task.get("notebook_task")
    if notebook is not None:
        notebook = check_dict(notebook, f"{where}.notebook_task")
        check_str(notebook.get("notebook_path"), f"{where}.notebook_task.notebook_path")
        check_str(notebook.get("source"), f"{where}.notebook_task.source")
        check_str_map(notebook.get("base_parameters"), f"{where}.notebook_task.base_parameters")
    wheel = task.get("python_wheel_task")
    if wheel is not None:
        wheel = check_dict(wheel, f"{where}.python_wheel_task")
        check_str(wheel.get("package_name"), f"{where}.python_wheel_task.package_name")
        check_str(wheel.get("entry_point"), f"{where}.python_wheel_task.entry_point")
        check_str_list(wheel.get("parameters"), f"{where}.python_wheel_task.parameters")
        check_str_map(wheel.get("named_parameters"), f"{where}.python_wheel_task.named_parameters")


def _validate_task(task: dict, keys: set[str], job_clusters: set, environments: set) -> None:
    key = task.get("task_key")
    if not isinstance(key, str) or not _TASK_KEY_RE.fullmatch(key):
        raise invalid(
            f"Invalid task_key {key!r}: a task key must match the pattern ^[\\w\\-\\_]+$ and be "
            "at most 100 characters long."
        )
    if key in keys:
        raise invalid(f"Task key {key} is used by more than one task.")
    keys.add(key)
    types = [t for t in (*SUPPORTED_TASK_TYPES, *OTHER_TASK_TYPES) if task.get(t)]
    if len(types) != 1:
        raise invalid(f"Task {key} must specify exactly one task type, got {types or 'none'}.")
    kind = types[0]
    if kind not in SUPPORTED_TASK_TYPES:
        raise invalid(
            f"Task {key}: {kind} is not supported by local-databricks; supported task types are "
            f"{', '.join(SUPPORTED_TASK_TYPES)}."
        )
    spec = task[kind]
    if spec.get("source") == "GIT":
        raise invalid(f"Task {key}: source GIT is not supported by local-databricks.")
    required = {
        "spark_python_task": ("python_file",),
        "notebook_task": ("notebook_path",),
        "python_wheel_task": ("package_name", "entry_point"),
    }[kind]
    for name in required:
        if not spec.get(name):
            raise invalid(f"Task {key}: {kind}.{name} is required.")
    for name in ("python_file", "notebook_path"):
        path = spec.get(name)
        if isinstance(path, str) and ".." in path.replace("\\", "/").split("/"):
            raise invalid(f"Task {key}: invalid {kind}.{name} {path!r}: '..' is not allowed.")
    compute = [c for c in ("new_cluster", "existing_cluster_id", "job_cluster_key") if task.get(c)]
    if len(compute) > 1:
        raise invalid(f"Task {key}: only one of {', '.join(compute)} may be set.")
    if compute and task.get("environment_key"):
        raise invalid(f"Task {key}: environment_key cannot be combined with {compute[0]}.")
    if task.get("job_cluster_key") and task["job_cluster_key"] not in job_clusters:
        raise invalid(
            f"Task {key} references job cluster {task['job_cluster_key']}, which is not defined "
            "in job_clusters."
        )
    if task.get("environment_key") and task["environment_key"] not in environments:
        raise invalid(
            f"Task {key} references environment {task['environment_key']}, which is not defined "
            "in environments."
        )
    if not compute and not task.get("environment_key") and kind != "notebook_task":
        raise invalid(
            f"Task {key}: {kind} needs compute: one of new_cluster, existing_cluster_id, "
            "job_cluster_key, or environment_key (serverless)."
        )
    if task.get("run_if", "ALL_SUCCESS") not in RUN_IF_VALUES:
        raise invalid(f"Task {key}: invalid run_if {task.get('run_if')!r}.")
    for dep in task.get("depends_on") or []:
        if not isinstance(dep, dict) or not dep.get("task_key"):
            raise invalid(f"Task {key}: each depends_on entry needs a task_key.")
        if dep["task_key"] == key:
            raise invalid(f"Task {key} cannot depend on itself.")
    timeout = task.get("timeout_seconds")
    if timeout is not None and (not isinstance(timeout, int) or timeout < 0):
        raise invalid(f"Task {key}: timeout_seconds must be a non-negative integer.")


def _check_acyclic(graph: dict[str, list[str]]) -> None:
    """400 naming a cycle of the task dependency graph; iterative (a 1,000-task chain is fine)."""
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        trail: list[str] = [root]  # the path being walked; on_trail mirrors it
        on_trail = {root}
        pending = [iter(graph.get(root, []))]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                pending.pop()
                node = trail.pop()
                on_trail.discard(node)
                done.add(node)
                continue
            if dep in on_trail:
                cycle = " -> ".join([*trail[trail.index(dep) :], dep])
                raise invalid(f"The task dependency graph has a cycle: {cycle}.")
            if dep not in done:
                trail.append(dep)
                on_trail.add(dep)
                pending.append(iter(graph.get(dep, [])))


def _task_spec(
    raw: dict, settings: dict, job_id: int, run_id: int, task_run_id: int, params: dict
) -> dict:
    """A task's spec for one run: dynamic value references resolved, job parameters as widgets."""
    refs = {
        "job.id": str(job_id),
        "job.run_id": str(run_id),
        "job.name": str(settings.get("name") or settings.get("run_name") or "Untitled"),
        "task.name": raw["task_key"],
        "task.run_id": str(task_run_id),
        **{f"job.parameters.{k}": str(v) for k, v in params.items()},
    }
    spec = _substitute(copy.deepcopy(raw), refs)
    if "notebook_task" in spec and params:
        notebook = spec["notebook_task"]
        notebook["base_parameters"] = {
            **(notebook.get("base_parameters") or {}),
            **{k: str(v) for k, v in params.items()},
        }
    return spec


def _substitute(value, refs: dict[str, str]):
    """Replace `{{job.run_id}}`-style dynamic value references in all strings of a task."""
    if isinstance(value, str):
        return _REF_RE.sub(lambda m: refs.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, refs) for k, v in value.items()}
    return value


def _apply_legacy_params(task: dict, legacy: dict) -> None:
    if "python_params" in legacy:
        for kind in ("spark_python_task", "python_wheel_task"):
            if kind in task:
                task[kind]["parameters"] = [str(p) for p in legacy["python_params"]]
    if "python_named_params" in legacy and "python_wheel_task" in task:
        task["python_wheel_task"]["named_parameters"] = dict(legacy["python_named_params"])
    if "notebook_params" in legacy and "notebook_task" in task:
        notebook = task["notebook_task"]
        notebook["base_parameters"] = {
            **(notebook.get("base_parameters") or {}),
            **{k: str(v) for k, v in legacy["notebook_params"].items()},
        }


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

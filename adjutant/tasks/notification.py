"""tagNotification and buildNotification: the mails the hub asks for when a
build is tagged (host.tagNotification) or finishes (kojihub's
build_notification), as kojid's TagNotificationTask and
BuildNotificationTask write them, sent through the configured `smtphost`
(logging in with smtp_user / smtp_pass when both are set).

These are tasks of their own: a mail that cannot be sent fails its
notification task, with the SMTP server's reason, and never the build.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import Sequence
from typing import Any, Optional

from adjutant.config import Config
from adjutant.tasks.base import TaskHandler

SMTP_TIMEOUT = 60  # seconds; smtplib waits forever by default

TAG_MESSAGE = (
    "From: %(from_addr)s\r\n"
    "Subject: %(nvr)s %(result)s %(operation)s by %(user_name)s\r\n"
    "To: %(to_addrs)s\r\n"
    "X-Koji-Package: %(pkg_name)s\r\n"
    "X-Koji-NVR: %(nvr)s\r\n"
    "X-Koji-Draft: %(draft)s\r\n"
    "X-Koji-User: %(user_name)s\r\n"
    "X-Koji-Status: %(status)s\r\n"
    "%(tag_headers)s\r\n"
    "\r\n"
    "Package: %(pkg_name)s\r\n"
    "NVR: %(nvr)s\r\n"
    "User: %(user_name)s\r\n"
    "Status: %(status)s\r\n"
    "%(operation_details)s\r\n"
    "%(nvr)s %(result)s %(operation)s by %(user_name)s\r\n"
    "%(failure_info)s\r\n"
)

BUILD_SUBJECT = ("Package: %(build_nvr)s Tag: %(dest_tag)s Status: %(status)s "
                 "Built by: %(build_owner)s")
BUILD_MESSAGE = (
    "From: %(from_addr)s\r\n"
    "Subject: %(subject)s\r\n"
    "To: %(to_addrs)s\r\n"
    "X-Koji-Tag: %(dest_tag)s\r\n"
    "X-Koji-Package: %(build_pkg_name)s\r\n"
    "X-Koji-Builder: %(build_owner)s\r\n"
    "X-Koji-Status: %(status)s\r\n"
    "X-Koji-Draft: %(draft)s\r\n"
    "\r\n"
    "Package: %(build_nvr)s\r\n"
    "Tag: %(dest_tag)s\r\n"
    "Status: %(status)s%(cancel_info)s\r\n"
    "Built by: %(build_owner)s\r\n"
    "ID: %(build_id)i\r\n"
    "Started: %(creation_time)s\r\n"
    "Finished: %(completion_time)s\r\n"
    "%(changelog)s\r\n"
    "%(failure)s\r\n"
    "%(output)s\r\n"
    "Task Info: %(weburl)s/taskinfo?taskID=%(task_id)i\r\n"
    "Build Info: %(weburl)s/buildinfo?buildID=%(build_id)i\r\n"
)


def tag_message(*, from_addr: str, recipients: Sequence[str], build: dict[str, Any],
                user_name: str, tag_name: Optional[str], from_tag_name: Optional[str],
                is_successful: bool, failure_msg: str = "") -> str:
    """kojid TagNotificationTask's mail: tagged, untagged or moved."""
    import koji

    operation, details, headers = "%(action)s", "Tag Operation: %(action)s\r\n", []
    action = ""
    if from_tag_name:
        operation += f" from {from_tag_name}"
        details += f"From Tag: {from_tag_name}\r\n"
        headers.append(f"X-Koji-Tag: {from_tag_name}")
        action = "untagged"
    if tag_name:
        operation += f" into {tag_name}"
        details += f"Into Tag: {tag_name}\r\n"
        headers.append(f"X-Koji-Tag: {tag_name}")
        action = "tagged"
    if tag_name and from_tag_name:
        action = "moved"
    values = {
        "from_addr": from_addr, "to_addrs": ", ".join(recipients),
        "pkg_name": build["package_name"], "nvr": koji.buildLabel(build),
        "draft": build.get("draft", False), "user_name": user_name,
        "tag_headers": "\r\n".join(headers),
        "operation": operation % {"action": action},
        "operation_details": details % {"action": action},
        "result": "successfully" if is_successful else "unsuccessfully",
        "status": "complete" if is_successful else "failed",
        "failure_info": "" if is_successful
        else f"Operation failed with the error:\r\n    {failure_msg}\r\n",
    }
    return TAG_MESSAGE % values


def send_mail(config: Config, from_addr: str, recipients: Sequence[str], message: str) -> None:
    """Send through smtphost (blocking: run it in an executor).  The error
    names the server and its reason, never the password."""
    import koji

    try:
        with smtplib.SMTP(config.smtphost, timeout=SMTP_TIMEOUT) as server:
            if config.smtp_user is not None and config.smtp_pass is not None:
                server.login(config.smtp_user, config.smtp_pass)
            server.sendmail(from_addr, list(recipients), message.encode("utf-8"))
    except (OSError, smtplib.SMTPException, socket.timeout) as exc:
        raise koji.GenericError(f"cannot send mail through smtphost {config.smtphost}: "
                                f"{type(exc).__name__}: {exc}") from None


class TagNotificationHandler(TaskHandler):
    methods = ("tagNotification",)
    weight = 0.1

    async def handle(  # noqa: PLR0917 (the task's parameters, as kojid's)
        self, recipients: list[str], is_successful: bool, tag_info: Any, from_info: Any,
        build_info: Any, user_info: Any, ignore_success: Optional[bool] = None,
        failure_msg: str = "",
    ) -> Optional[str]:
        if not recipients:
            return None
        if ignore_success and is_successful:
            return None
        hub, config = self.ctx.hub, self.ctx.config
        build = await hub.call("getBuild", build_info)
        user = await hub.call("getUser", user_info)
        tag_name = (await hub.call("getTag", tag_info))["name"] if tag_info else None
        from_name = (await hub.call("getTag", from_info))["name"] if from_info else None
        message = tag_message(from_addr=config.from_addr, recipients=recipients, build=build,
                              user_name=user["name"], tag_name=tag_name,
                              from_tag_name=from_name, is_successful=is_successful,
                              failure_msg=failure_msg)
        await asyncio.get_running_loop().run_in_executor(
            None, send_mail, config, config.from_addr, recipients, message)
        return f"sent notification of tag operation {self.ctx.task_id} to: {', '.join(recipients)}"


class BuildNotificationHandler(TaskHandler):
    methods = ("buildNotification",)
    weight = 0.1

    async def task_data(self, task_id: int, data: dict[int, dict[str, Any]]) -> None:
        """kojid BuildNotificationTask._getTaskData: the task and its
        descendants, with their results and files."""
        import koji

        hub = self.ctx.hub
        info = await hub.call("getTaskInfo", task_id)
        if not info:
            return
        host = await hub.call("getHost", info["host_id"]) if info.get("host_id") else None
        try:
            result = await hub.call("getTaskResult", task_id)
        except Exception as exc:  # the failure, for display
            cause = getattr(exc, "cause", exc)
            result = getattr(cause, "faultString", None) or f"{type(cause).__name__}: {cause}"
            result = str(result).strip()
        files = await hub.call("listTaskOutput", task_id, all_volumes=True)
        logs, rpms, srpms, misc = [], [], [], []
        for name in files:
            if name.endswith(".log"):
                logs += [(name, volume) for volume in files[name]]
            elif name.endswith(".src.rpm"):
                srpms.append(name)
            elif name.endswith(".rpm"):
                rpms.append(name)
            else:
                misc += [(name, volume) for volume in files[name]]
        data[task_id] = {
            "id": info["id"], "method": info["method"], "arch": info["arch"],
            "build_arch": info.get("label") or "", "host": host["name"] if host else None,
            "state": koji.TASK_STATES[info["state"]].lower(), "result": result or "Unknown",
            "request": await hub.call("getTaskRequest", task_id),
            "logs": sorted(logs, key=lambda x: (x[1], x[0])), "rpms": sorted(rpms),
            "srpms": srpms, "misc": sorted(misc, key=lambda x: (x[1], x[0])),
        }
        for child in await hub.call("getTaskChildren", task_id):
            await self.task_data(child["id"], data)

    async def handle(self, recipients: list[str], build: dict[str, Any], target: Any,
                     weburl: str) -> Optional[str]:
        import koji
        import koji.util

        if not recipients:
            return None
        hub, config = self.ctx.hub, self.ctx.config
        data: dict[int, dict[str, Any]] = {}
        await self.task_data(build["task_id"], data)
        cancel_info = failure_info = ""
        if build["state"] == koji.BUILD_STATES["CANCELED"]:
            # the owner of this task is who cancelled the build (kojid's note)
            this = await hub.call("getTaskInfo", self.ctx.task_id)
            if this.get("owner"):
                canceler = await hub.call("getUser", this["owner"])
                cancel_info = f"\r\nCanceled by: {canceler['name']}"
        elif build["state"] == koji.BUILD_STATES["FAILED"]:
            failed_hosts = [f"{t['host']} ({t['arch']})" for t in data.values()
                            if t["host"] and t["state"] == "failed"]
            failure_info = (f"\r\n{koji.buildLabel(build)} ({build['id']}) failed on "
                            f"{', '.join(failed_hosts)}:\r\n  {data[build['task_id']]['result']}")
        entries = await hub.call("getChangelogEntries", build["id"], queryOpts={"limit": 3})
        changelog = koji.util.formatChangelog(entries).replace("\n", "\r\n")
        message = build_message(
            from_addr=config.from_addr, recipients=recipients, build=build, target=target,
            weburl=weburl, topurl=config.topurl or "", tasks=data,
            failure=failure_info or cancel_info, cancel_info=cancel_info,
            changelog=f"Changelog:\r\n{changelog}" if changelog else "")
        await asyncio.get_running_loop().run_in_executor(
            None, send_mail, config, config.from_addr, recipients, message)
        return f"sent notification of build {build['id']} to: {', '.join(recipients)}"


def build_message(*, from_addr: str, recipients: Sequence[str], build: dict[str, Any],
                  target: Optional[dict[str, Any]], weburl: str, topurl: str,
                  tasks: dict[int, dict[str, Any]], failure: str, cancel_info: str,
                  changelog: str) -> str:
    """kojid BuildNotificationTask's mail: the build, its SRPMs, and its tasks
    by state with their logs and RPMs."""
    import koji

    srpms = sorted({name for task in tasks.values() for name in task["srpms"]})
    output = ""
    if srpms:
        output = "SRPMS:\r\n" + "".join(f"  {name}" for name in srpms) + "\r\n\r\n"
    buildurl = koji.PathInfo(topdir=topurl).build(build)
    for state in ("failed", "canceled", "closed"):
        listed = [t for t in tasks.values() if t["state"] == state]
        if not listed:
            continue
        output += f"{state.capitalize()} tasks:\r\n{'-' * len(state)}-------\r\n\r\n"
        for task in listed:
            output += f"Task {task['id']}" + (f" on {task['host']}\r\n" if task["host"]
                                              else "\r\n")
            output += f"Task Type: {koji.taskLabel(task)}\r\n"
            if task["logs"]:
                output += "logs:\r\n"
                for name, volume in task["logs"]:
                    # kojid compares the task list with 'closed' here, so a
                    # log's link is always the task's (getfile), never the build's
                    output += (f" {weburl}/getfile?taskID={task['id']}&name={name}"
                               f"&volume={volume}\r\n")
            if task["rpms"]:
                output += "rpms:\r\n" + "".join(
                    f" {buildurl}/{task['build_arch']}/{name}\r\n" for name in task["rpms"])
            if task["misc"]:
                output += "misc:\r\n" + "".join(
                    f" {weburl}/getfile?taskID={task['id']}&name={name}&volume={volume}\r\n"
                    for name, volume in task["misc"])
            output += "\r\n"
        output += "\r\n"
    values = {
        "from_addr": from_addr, "to_addrs": ", ".join(recipients),
        "dest_tag": target["dest_tag_name"] if target else None,
        "build_pkg_name": build["package_name"], "build_owner": build["owner_name"],
        "build_nvr": koji.buildLabel(build), "build_id": build["id"],
        "status": koji.BUILD_STATES[build["state"]].lower(),
        "draft": build.get("draft", False), "cancel_info": cancel_info,
        "creation_time": koji.formatTimeLong(build["creation_ts"]),
        "completion_time": koji.formatTimeLong(build["completion_ts"]),
        "changelog": changelog, "failure": failure, "output": output,
        "weburl": weburl, "task_id": build["task_id"],
    }
    values["subject"] = BUILD_SUBJECT % values
    return BUILD_MESSAGE % values

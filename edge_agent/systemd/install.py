"""``edge-agent install-service``: install the agent as a systemd service.

Theory of operation: :func:`plan_install` turns options plus the effective
config into a list of actions (pure; nothing touches the disk), and
:func:`execute` carries them out, or only prints them with ``--dry-run``.
Every action is idempotent: a file with the same content is left alone, the
starter config is never overwritten, ``systemd-sysusers`` creates the user
only if missing. Running the command again after changing the profile or
adding a credential updates the unit and nothing else.

``--root DIR`` installs into a directory tree instead of ``/`` (image
builds, tests). The user is declared in ``/etc/sysusers.d/edge-agent.conf``
and created with ``systemd-sysusers``, which honours ``--root``;
``useradd`` is the fallback on ``/`` only. No ``systemctl`` command is run:
the next steps are printed.

Plugins: capabilities and supplementary groups are added only for what the
configured plugin instances need (:mod:`edge_agent.systemd.permissions`).

Credentials: every file in ``/etc/edge-agent/credentials/`` (and each
``--credential NAME=PATH``) becomes a ``LoadCredential=`` line. The config
is validated against exactly that set, so a ``credential:NAME`` the unit
would not provide fails here, not at the next boot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_agent._version import __version__
from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.errors import EdgeAgentError
from edge_agent.systemd.permissions import needed_permissions
from edge_agent.systemd.unit import UNIT_NAME, UnitParams, render_unit

CONFIG_DIR = Path("etc/edge-agent")
CREDSTORE = CONFIG_DIR / "credentials"
UNIT_DIR = Path("etc/systemd/system")
SYSUSERS_FILE = Path("etc/sysusers.d/edge-agent.conf")
_HIDDEN_FROM_SERVICE = ("/home/", "/root/", "/tmp/", "/var/tmp/", "/run/user/")


@dataclass(frozen=True)
class WriteFile:
    path: Path
    content: str
    mode: int
    replace: bool = True  # False: an existing file is kept as it is (user-owned config)


@dataclass(frozen=True)
class MakeDir:
    path: Path
    mode: int


@dataclass(frozen=True)
class CreateUser:
    name: str
    root: Path


Action = WriteFile | MakeDir | CreateUser


@dataclass(frozen=True)
class InstallOptions:
    root: Path
    exec_path: str
    user: str = "edge-agent"
    profile: str = ""
    credentials: tuple[tuple[str, str], ...] = ()  # extra (name, path) from --credential
    systemd_version: int = 252


def plan_install(options: InstallOptions, loaded: LoadedConfig, credstore: list[str]) -> list[Action]:
    """The actions that install the service; ``credstore`` lists files in /etc/edge-agent/credentials."""
    root = options.root
    credentials = tuple(sorted({(n, f"/{CREDSTORE / n}") for n in credstore} | set(options.credentials)))
    permissions = needed_permissions(loaded.config)
    params = UnitParams(
        exec_path=options.exec_path,
        service=loaded.config.service,
        shutdown_grace=loaded.config.agent.shutdown_grace,
        version=__version__,
        profile=loaded.config.profile,
        user=options.user,
        group=options.user,
        credentials=credentials,
        systemd_version=options.systemd_version,
        capabilities=permissions.capabilities,
        groups=permissions.groups,
    )
    return [
        MakeDir(root / CONFIG_DIR, 0o755),
        MakeDir(root / CONFIG_DIR / "conf.d", 0o755),
        MakeDir(root / CREDSTORE, 0o700),
        WriteFile(root / CONFIG_DIR / "agent.toml", starter_config(options.profile), 0o644, replace=False),
        WriteFile(root / SYSUSERS_FILE, sysusers_line(options.user), 0o644),
        CreateUser(options.user, root),
        WriteFile(root / UNIT_DIR / UNIT_NAME, render_unit(params), 0o644),
    ]


def sysusers_line(user: str) -> str:
    return (
        "# edge-agent service user (written by edge-agent install-service)\n"
        f'u {user} - "edge-agent telemetry agent" /var/lib/edge-agent /usr/sbin/nologin\n'
    )


def starter_config(profile: str) -> str:
    lines = [
        "# edge-agent configuration. `edge-agent check-config` shows every key and where its",
        "# value comes from; drop-ins in conf.d/*.toml override this file.",
        "# After editing: systemctl reload edge-agent (applied live, rolled back if it fails).",
    ]
    if profile:
        lines.append(f'profile = "{profile}"')
    lines += ["", "[exporter]", 'endpoint = "http://127.0.0.1:4318"', ""]
    return "\n".join(lines)


# -- carrying out -------------------------------------------------------------


def execute(actions: list[Action], *, dry_run: bool, say: Callable[[str], None]) -> None:
    for action in actions:
        if isinstance(action, MakeDir):
            _make_dir(action, dry_run, say)
        elif isinstance(action, WriteFile):
            _write_file(action, dry_run, say)
        else:
            _create_user(action, dry_run, say)


def _make_dir(action: MakeDir, dry_run: bool, say: Callable[[str], None]) -> None:
    if action.path.is_dir():
        say(f"{'exists':<12} {action.path}/")
        return
    say(f"{'would create' if dry_run else 'created':<12} {action.path}/ (mode {action.mode:o})")
    if not dry_run:
        action.path.mkdir(parents=True, mode=action.mode)
        os.chmod(action.path, action.mode)  # mkdir's mode is masked by the umask


def _write_file(action: WriteFile, dry_run: bool, say: Callable[[str], None]) -> None:
    try:
        current: str | None = action.path.read_text("utf-8")
    except FileNotFoundError:
        current = None
    if current == action.content:
        say(f"{'unchanged':<12} {action.path}")
        return
    if current is not None and not action.replace:
        say(f"{'kept':<12} {action.path} (yours; not overwritten)")
        return
    verb = (
        ("would write" if dry_run else "wrote")
        if current is None
        else ("would update" if dry_run else "updated")
    )
    say(f"{verb:<12} {action.path}")
    if not dry_run:
        action.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = action.path.with_name(action.path.name + ".tmp")
        tmp.write_text(action.content, "utf-8")
        os.chmod(tmp, action.mode)
        os.replace(tmp, action.path)


def _create_user(action: CreateUser, dry_run: bool, say: Callable[[str], None]) -> None:
    if _user_exists(action.root, action.name):
        say(f"{'exists':<12} user {action.name}")
        return
    sysusers = shutil.which("systemd-sysusers")
    if sysusers:
        argv = [sysusers, f"--root={action.root}", SYSUSERS_FILE.name]
    elif action.root == Path("/"):
        home, shell = "/var/lib/edge-agent", "/usr/sbin/nologin"
        argv = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home]
        argv += ["--shell", shell, action.name]
    else:
        raise EdgeAgentError("creating the service user under --root needs systemd-sysusers (systemd)")
    say(f"{'would run' if dry_run else 'ran':<12} {' '.join(argv)}")
    if dry_run:
        return
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise EdgeAgentError(f"creating user {action.name} failed: {detail}")


def _user_exists(root: Path, name: str) -> bool:
    if root == Path("/"):
        import pwd

        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True
    try:
        lines = (root / "etc/passwd").read_text("utf-8").splitlines()
    except FileNotFoundError:
        return False
    return any(line.split(":", 1)[0] == name for line in lines)


# -- the command --------------------------------------------------------------


def install_service_command(args: argparse.Namespace) -> int:
    root: Path = args.root.resolve()
    options = InstallOptions(
        root=root,
        exec_path=args.exec_path or find_executable(),
        user=args.user,
        profile=args.profile,
        credentials=tuple(_parse_credential(c) for c in args.credential),
        systemd_version=args.systemd_version or detect_systemd_version(),
    )
    credstore = sorted(p.name for p in (root / CREDSTORE).glob("*") if p.is_file())
    loaded = load_for_unit(options, credstore, args.sets)
    for warning in exec_warnings(options.exec_path):
        print(f"warning: {warning}")
    for note in needed_permissions(loaded.config).notes:
        print(f"note: {note}")
    execute(plan_install(options, loaded, credstore), dry_run=args.dry_run, say=print)
    print(next_steps(options, dry_run=args.dry_run))
    return 0


def load_for_unit(options: InstallOptions, credstore: list[str], sets: list[str]) -> LoadedConfig:
    """Load the config as the service will see it, credentials included (validated, not read)."""
    from edge_agent.runtime.discovery import PluginRegistry

    main = options.root / CONFIG_DIR / "agent.toml"
    cli_sets = [*sets, f"profile={options.profile}"] if options.profile else list(sets)
    with tempfile.TemporaryDirectory(prefix="edge-agent-credentials-") as creds:
        # stand-in for $CREDENTIALS_DIRECTORY: the names the unit will load, nothing more
        for name in credstore:
            Path(creds, name).symlink_to(options.root / CREDSTORE / name)
        for name, path in options.credentials:
            Path(creds, name).symlink_to(path)
        return load_config(
            main_path=main if main.is_file() else None,
            environ={"CREDENTIALS_DIRECTORY": creds},
            cli_sets=cli_sets,
            plugin_types=PluginRegistry.for_config,
        )


def _parse_credential(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or "/" in name or not path.startswith("/"):
        raise EdgeAgentError(f"--credential expects NAME=/absolute/path, got {text!r}")
    return name, path


def find_executable() -> str:
    beside = Path(sys.executable).parent / "edge-agent"
    found = str(beside) if beside.is_file() else shutil.which("edge-agent")
    if not found:
        raise EdgeAgentError("cannot find the edge-agent executable; pass --exec /path/to/edge-agent")
    return str(Path(found).absolute())


def exec_warnings(exec_path: str) -> list[str]:
    warnings = []
    if exec_path.startswith(_HIDDEN_FROM_SERVICE):
        warnings.append(
            f"{exec_path} is hidden from the service by ProtectHome=/PrivateTmp=; install the agent "
            "under /opt (python3 -m venv /opt/edge-agent && /opt/edge-agent/bin/pip install edge-agent)"
        )
    if not os.access(exec_path, os.X_OK):
        warnings.append(f"{exec_path} is not an executable file")
    return warnings


def detect_systemd_version() -> int:
    """The local systemd's version (``systemctl --version``), or 252 (Debian 12) when unknown."""
    tool = shutil.which("systemctl") or shutil.which("systemd-analyze")
    if tool:
        result = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
        first = result.stdout.split()
        if len(first) >= 2 and first[1].isdigit():
            return int(first[1])
    return 252


def next_steps(options: InstallOptions, *, dry_run: bool) -> str:
    prefix = "" if options.root == Path("/") else f" (under {options.root})"
    head = "Dry run: nothing was changed." if dry_run else f"Installed{prefix}."
    return f"""{head} Next steps:
  1. Edit /etc/edge-agent/agent.toml (exporter.endpoint, plugins); drop-ins go in conf.d/.
  2. Keys and passwords: copy them to /etc/edge-agent/credentials/ (owner root, mode 0600),
     refer to them as "credential:NAME" in the config, and run this command again.
  3. systemctl daemon-reload && systemctl enable --now edge-agent
  4. systemctl status edge-agent; journalctl -u edge-agent -f; edge-agent status
  Config changes later: systemctl reload edge-agent (live; a bad config is refused and logged)."""

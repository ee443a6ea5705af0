"""crontab.crontab (and its server.crontab alias): Crontab fact in, commands out."""

from __future__ import annotations

import re
from pathlib import Path

from agent.catalogue.facts.crontab import Crontab, CrontabFile
from agent.catalogue.operations import crontab, server
from agent.compat import run_deploy
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op

TEMP = re.compile(r"/tmp/pullinfra-[0-9a-f]{32}")
SED_SUFFIX = re.compile(r"\.\d{10}\b")


def _run(fake: FakeHost, **kwargs) -> list[str]:
    """Commands with the random temp file and sed's backup suffix made stable."""
    commands = run_op(fake, crontab.crontab, **kwargs)
    temps = {match for command in commands for match in TEMP.findall(command)}
    assert len(temps) <= 1, commands
    return [SED_SUFFIX.sub(".S", TEMP.sub("TMP", command)) for command in commands]


def _parsed(text: str) -> CrontabFile:
    return Crontab().process(text.splitlines())


def test_fact_parses_schedules_specials_env_and_comments() -> None:
    parsed = _parsed(
        "SHELL=/bin/bash\n# pyinfra-name=backup\n0 1 * * 0 /bin/tar cf /tmp/b.tar /etc\n"
        "\n@reboot /usr/bin/mkdir /run/x\n*/5 * * * * ping -c1 127.0.0.1\n"
    )
    assert parsed.to_json() == [
        {"env": "SHELL=/bin/bash", "comments": []},
        {
            "command": "/bin/tar cf /tmp/b.tar /etc", "minute": 0, "hour": 1,
            "day_of_month": "*", "month": "*", "day_of_week": 0,
            "comments": ["# pyinfra-name=backup"],
        },
        {"command": "/usr/bin/mkdir /run/x", "special_time": "@reboot", "comments": [""]},
        {
            "command": "ping -c1 127.0.0.1", "minute": "*/5", "hour": "*",
            "day_of_month": "*", "month": "*", "day_of_week": "*", "comments": [],
        },
    ]
    assert parsed.get("backup")["command"] == "/bin/tar cf /tmp/b.tar /etc"
    assert parsed["SHELL=/bin/bash"] == {"env": "SHELL=/bin/bash", "comments": []}
    assert Crontab().command(user="root") == "crontab -l -u root || true"
    assert Crontab().default() == CrontabFile()


def test_add_to_an_empty_crontab(fake: FakeHost) -> None:
    fake.fact(Crontab, CrontabFile(), user="root")
    assert _run(fake, command="/bin/backup", user="root", minute=[0, 30], hour=2) == [
        "echo '0,30 2 * * * /bin/backup' >> TMP",
        "crontab -u root TMP",
    ]


def test_add_named_entry_beside_others(fake: FakeHost) -> None:
    fake.fact(Crontab, _parsed("@daily /bin/other\n"), user=None)
    assert _run(fake, command="/bin/backup", cron_name="bup", special_time="@reboot") == [
        "crontab -l > TMP",
        "echo '' >> TMP",
        "echo '# pyinfra-name=bup' >> TMP",
        "echo '@reboot /bin/backup' >> TMP",
        "crontab TMP",
    ]


def test_same_entry_is_no_change(fake: FakeHost) -> None:
    fake.fact(Crontab, _parsed("# pyinfra-name=bup\n0 2 * * * /bin/backup\n"), user="root")
    assert _run(fake, command="/bin/backup", cron_name="bup", user="root",
                minute="0", hour=2) == []
    assert fake.noops == ["crontab /bin/backup exists"]
    fake.fact(Crontab, CrontabFile(), user="root")
    assert _run(fake, command="/bin/backup", user="root", present=False) == []
    assert fake.noops[-1] == "crontab /bin/backup does not exist"


def test_dict_fact_from_pyinfra_style_tests_is_accepted(fake: FakeHost) -> None:
    entry = {"minute": "*", "hour": "*", "day_of_month": "*", "month": "*", "day_of_week": "*"}
    fake.fact(Crontab, {"/bin/x": entry}, user=None)
    assert _run(fake, command="/bin/x") == []


def test_changed_schedule_is_replaced_in_place(fake: FakeHost) -> None:
    fake.fact(Crontab, _parsed("0 2 * * * /bin/backup\n"), user="root")
    assert _run(fake, command="/bin/backup", user="root", hour=3, minute=0) == [
        "crontab -l -u root > TMP",
        r"sed -i.S 's/.*\/bin\/backup.*/0 3 * * * \/bin\/backup/' TMP && rm -f TMP.S",
        "crontab -u root TMP",
    ]


def test_named_entry_with_a_new_command_replaces_the_old_one(fake: FakeHost) -> None:
    fake.fact(Crontab, _parsed("# pyinfra-name=bup\n0 2 * * * /bin/old\n"), user=None)
    assert _run(fake, command="/bin/new", cron_name="bup", minute=0, hour=2)[1] == (
        r"sed -i.S 's/.*\/bin\/old.*/0 2 * * * \/bin\/new/' TMP && rm -f TMP.S"
    )


def test_a_name_looks_up_by_name_only(fake: FakeHost) -> None:
    # As in pyinfra: an unnamed entry with the same command is not adopted by a cron_name,
    # the named entry is added beside it.
    fake.fact(Crontab, _parsed("0 2 * * * /bin/backup\n"), user=None)
    assert _run(fake, command="/bin/backup", cron_name="bup", minute=0, hour=2)[-2] == (
        "echo '0 2 * * * /bin/backup' >> TMP"
    )


def test_remove(fake: FakeHost) -> None:
    fake.fact(Crontab, _parsed("0 2 * * * /bin/backup\n"), user="root")
    assert _run(fake, command="/bin/backup", user="root", present=False) == [
        "crontab -l -u root > TMP",
        r"sed -i.S '/.*\/bin\/backup.*/d' TMP && rm -f TMP.S",
        "crontab -u root TMP",
    ]


def test_server_alias_is_the_same_operation() -> None:
    assert server.crontab is crontab.crontab
    assert server.crontab.definition.full_name == "crontab.crontab"


def test_empty_command_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(
        tmp_path,
        "from pyinfra.operations import crontab\n\ncrontab.crontab(name='bad', command='')\n",
    )
    deploy = deploys[0]
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploy}:3" in (op.error or "")
    assert "non-empty command" in (op.error or "")

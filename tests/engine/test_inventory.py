from __future__ import annotations

import pytest

from agent.compat import load_inventory
from agent.engine.errors import InventoryError
from agent.engine.inventory import parse_data_override


def test_groups_hosts_and_data_precedence(write):
    inventory = write(
        "inv.py",
        """
        web = (["web-01", ("web-02", {"role": "host", "port": 1})], {"role": "group-inline"})
        db = ["db-01", "web-02"]
        _private = ["not-a-group"]
        name = "not a group either"
        """,
    )
    write("group_data/all.py", 'role = "all"\nlevel = "all"\nonly_all = 1\nimport os\n')
    write("group_data/web.py", 'level = "web"\nweb_only = True\n')
    write("group_data/db.py", 'level = "db"\n_hidden = 1\n')

    inv = load_inventory(inventory, data_overrides={"port": 9})
    assert [h.name for h in inv.hosts] == ["web-01", "web-02", "db-01"]
    assert set(inv.groups) == {"web", "db", "all"}
    web1, web2, db1 = inv.hosts
    assert web1.groups == ("web", "all")
    assert web2.groups == ("web", "db", "all")
    assert web1.data["role"] == "group-inline"
    assert web2.data["role"] == "host"  # host beats its groups
    assert web2.data["level"] == "db"  # later group wins
    assert web1.data["level"] == "web"
    assert db1.data["only_all"] == 1 and "os" not in db1.data and "_hidden" not in db1.data
    assert web2.data["port"] == 9  # --data beats the host
    assert all(h.connector == "ssh" for h in inv.hosts)


def test_local_connector_and_limit(write):
    inventory = write("inv.py", 'here = ["@local"]\nweb = ["w1", "w2"]\ndb = ["d1"]\n')
    assert load_inventory(inventory).get("@local").connector == "local"
    assert [h.name for h in load_inventory(inventory, limit=["web"]).hosts] == ["w1", "w2"]
    assert [h.name for h in load_inventory(inventory, limit=["d1,w2"]).hosts] == ["w2", "d1"]
    with pytest.raises(InventoryError, match="matches no host or group"):
        load_inventory(inventory, limit=["nope"])


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        ("web = ['a']\nweb2 = ['b',\n", 2, "syntax error"),
        ("x = 1\nweb = ['a', 42]\n", 2, "not a host"),
        ("web = ['a']\nboom = undefined_name\n", 2, "NameError"),
        ("web = ['a']\ndb = [('b', {'ssh_port': 'twenty'})]\n", 2, "ssh_port"),
        ("web = [('a', {'ssh_strict_host_key_checking': 'maybe'})]\n", 1, "accept-new"),
        ("web = ['@docker/x']\n", 1, "unknown connector"),
    ],
)
def test_inventory_errors_name_file_and_line(write, text, line, match):
    inventory = write("inv.py", text)
    with pytest.raises(InventoryError, match=match) as caught:
        load_inventory(inventory)
    assert caught.value.where == f"{inventory}:{line}"


def test_group_data_error_names_its_file(write):
    inventory = write("inv.py", "web = ['a']\n")
    group_file = write("group_data/web.py", "x = 1\ny = 1 / 0\n")
    with pytest.raises(InventoryError, match="ZeroDivisionError") as caught:
        load_inventory(inventory)
    assert caught.value.where == f"{group_file}:2"


def test_empty_inventory_is_an_error(write):
    with pytest.raises(InventoryError, match="no hosts"):
        load_inventory(write("inv.py", "x = 1\n"))


def test_data_override_parsing():
    assert parse_data_override("a=b=c") == ("a", "b=c")
    assert parse_data_override("port:=2222") == ("port", 2222)
    assert parse_data_override("flags:=[1, true]") == ("flags", [1, True])
    with pytest.raises(InventoryError):
        parse_data_override("novalue")
    with pytest.raises(InventoryError, match="not JSON"):
        parse_data_override("x:=nope")


def test_inventory_may_import_pyinfra_names(write):
    inventory = write("inv.py", "from pyinfra import host\nweb = ['a']\n")
    assert [h.name for h in load_inventory(inventory).hosts] == ["a"]

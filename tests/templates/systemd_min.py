"""A python-dbusmock template of the part of systemd's manager adjutant uses.

dbusmock's own systemd template escapes object paths wrongly, imports gi and
has no Subscribe, ListUnitsByPatterns or Service interface; this one follows
systemd's D-Bus API (org.freedesktop.systemd1(5)) for those calls:

- StartTransientUnit creates the unit object (Unit and Service interfaces),
  replies with a job path, then emits PropertiesChanged (activating, active)
  and JobRemoved(done), in systemd's order.  A loaded unit of the same name
  gives org.freedesktop.systemd1.UnitExists.
- StopUnit moves the unit to deactivating; a test ends it with the mock
  method FinishUnit, as the unit's process would.
- Mock interface: FinishUnit(name, result, exit_code, exit_status),
  RemoveUnit(name), StartedProperties(name) -> the properties it was given.
"""

import dbus
from dbusmock import MOCK_IFACE, mockobject

BUS_NAME = "org.freedesktop.systemd1"
MAIN_OBJ = "/org/freedesktop/systemd1"
MAIN_IFACE = "org.freedesktop.systemd1.Manager"
UNIT_IFACE = "org.freedesktop.systemd1.Unit"
SERVICE_IFACE = "org.freedesktop.systemd1.Service"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
SYSTEM_BUS = True


def load(mock, parameters):
    mock.next_job_id = 1
    mock.units = {}
    mock.started = {}
    mock.AddProperties(MAIN_IFACE, {"Version": "257-mock"})


def unit_path(name):
    escaped = []
    for index, byte in enumerate(str(name).encode()):
        char = chr(byte)
        if char.isascii() and char.isalnum() and not (index == 0 and char.isdigit()):
            escaped.append(char)
        else:
            escaped.append(f"_{byte:02x}")
    return MAIN_OBJ + "/unit/" + "".join(escaped)


def _set(mock_unit, interface, values):
    mock_unit.UpdateProperties(interface, values)


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="")
def Subscribe(self):
    pass


@dbus.service.method(
    MAIN_IFACE, in_signature="ssa(sv)a(sa(sv))", out_signature="o", async_callbacks=("ok", "err")
)
def StartTransientUnit(self, name, mode, properties, aux, ok, err):
    name = str(name)
    if name in self.units:
        err(dbus.exceptions.DBusException(f"Unit {name} was already loaded or has a fragment file.",
                                          name="org.freedesktop.systemd1.UnitExists"))
        return
    job_id = self.next_job_id
    self.next_job_id += 1
    job_path = f"{MAIN_OBJ}/job/{job_id}"
    path = unit_path(name)
    self.units[name] = path
    self.started[name] = {str(k): v for k, v in properties}
    self.AddObject(path, UNIT_IFACE, {
        "Id": name, "Names": [name], "LoadState": "loaded", "ActiveState": "inactive",
        "SubState": "dead", "InvocationID": dbus.Array([], signature="y"),
        "Description": str(self.started[name].get("Description", "")),
    }, [])
    unit = mockobject.objects[path]
    unit.AddProperties(SERVICE_IFACE, {
        "Result": "success", "ExecMainCode": dbus.Int32(0), "ExecMainStatus": dbus.Int32(0),
        "CPUUsageNSec": dbus.UInt64(2**64 - 1),
    })
    ok(job_path)
    invocation = dbus.Array([dbus.Byte(b) for b in bytes.fromhex("%032x" % (job_id + 0xABC0))],
                            signature="y")
    _set(unit, UNIT_IFACE, {"ActiveState": "activating", "SubState": "start",
                            "InvocationID": invocation})
    _set(unit, UNIT_IFACE, {"ActiveState": "active", "SubState": "running"})
    self.EmitSignal(MAIN_IFACE, "JobRemoved", "uoss", [job_id, job_path, name, "done"])


@dbus.service.method(MAIN_IFACE, in_signature="ss", out_signature="o")
def StopUnit(self, name, mode):
    name = str(name)
    if name not in self.units:
        raise dbus.exceptions.DBusException(f"Unit {name} not loaded.",
                                            name="org.freedesktop.systemd1.NoSuchUnit")
    unit = mockobject.objects[self.units[name]]
    _set(unit, UNIT_IFACE, {"ActiveState": "deactivating", "SubState": "stop-sigterm"})
    self.next_job_id += 1
    return f"{MAIN_OBJ}/job/{self.next_job_id}"


@dbus.service.method(MAIN_IFACE, in_signature="ssi", out_signature="")
def KillUnit(self, name, who, signal):
    if str(name) not in self.units:
        raise dbus.exceptions.DBusException(f"Unit {name} not loaded.",
                                            name="org.freedesktop.systemd1.NoSuchUnit")


@dbus.service.method(MAIN_IFACE, in_signature="s", out_signature="")
def ResetFailedUnit(self, name):
    name = str(name)
    if name not in self.units:
        raise dbus.exceptions.DBusException(f"Unit {name} not loaded.",
                                            name="org.freedesktop.systemd1.NoSuchUnit")
    unit = mockobject.objects[self.units[name]]
    if unit.Get(UNIT_IFACE, "ActiveState") == "failed":
        _remove(self, name)


@dbus.service.method(MAIN_IFACE, in_signature="s", out_signature="")
def UnrefUnit(self, name):
    """Drops the AddRef reference; an unreferenced inactive unit is unloaded."""
    name = str(name)
    if name not in self.units:
        raise dbus.exceptions.DBusException(f"Unit {name} not loaded.",
                                            name="org.freedesktop.systemd1.NoSuchUnit")
    unit = mockobject.objects[self.units[name]]
    if unit.Get(UNIT_IFACE, "ActiveState") == "inactive":
        _remove(self, name)


@dbus.service.method(MAIN_IFACE, in_signature="asas", out_signature="a(ssssssouso)")
def ListUnitsByPatterns(self, states, patterns):
    import fnmatch

    rows = []
    for name, path in self.units.items():
        if patterns and not any(fnmatch.fnmatch(name, str(p)) for p in patterns):
            continue
        unit = mockobject.objects[path]
        rows.append((name, unit.Get(UNIT_IFACE, "Description"), "loaded",
                     unit.Get(UNIT_IFACE, "ActiveState"), unit.Get(UNIT_IFACE, "SubState"),
                     "", dbus.ObjectPath(path), dbus.UInt32(0), "", dbus.ObjectPath("/")))
    return rows


def _remove(self, name):
    path = self.units.pop(name)
    self.RemoveObject(path)
    self.EmitSignal(MAIN_IFACE, "UnitRemoved", "so", [name, dbus.ObjectPath(path)])


@dbus.service.method(MOCK_IFACE, in_signature="ssss", out_signature="")
def FinishUnit(self, name, result, exit_code, exit_status):
    """End a unit as systemd would: Service properties first, then the state."""
    unit = mockobject.objects[self.units[str(name)]]
    codes = {"exited": 1, "killed": 2, "dumped": 3}
    _set(unit, SERVICE_IFACE, {"Result": result,
                               "ExecMainCode": dbus.Int32(codes.get(str(exit_code), 0)),
                               "ExecMainStatus": dbus.Int32(int(exit_status))})
    final = "inactive" if str(result) == "success" else "failed"
    _set(unit, UNIT_IFACE, {"ActiveState": final, "SubState": "dead" if final == "inactive"
                            else "failed"})


@dbus.service.method(MOCK_IFACE, in_signature="s", out_signature="")
def RemoveUnit(self, name):
    _remove(self, str(name))


@dbus.service.method(MOCK_IFACE, in_signature="s", out_signature="a{sv}")
def StartedProperties(self, name):
    return self.started[str(name)]

#!/usr/bin/python3
"""Idempotent provisioning of the local test cloud, called by up.sh (Debian's python3).

  provision.py identity   service project and users, catalog, projects vnf-a/vnf-b and their users
  provision.py resources  flavors fenix.small/fenix.tiny and the image fenix-image

Passwords come from the environment (ADMIN_PASS, NOVA_PASS, ..., VNF_A_PASS, VNF_B_PASS).
Existing users keep their password (changing it would revoke their tokens).
"""

import os
import sys
import time

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

KEYSTONE = "http://127.0.0.1:5000/v3"
ENDPOINTS = {
    # name: (type, url, description)
    "nova": ("compute", "http://127.0.0.1:8774/v2.1", "OpenStack Compute"),
    "placement": ("placement", "http://127.0.0.1:8778", "Placement API"),
    "glance": ("image", "http://127.0.0.1:9292", "OpenStack Image"),
    "neutron": ("network", "http://127.0.0.1:9696", "OpenStack Networking"),
}
REGION = "RegionOne"
FLAVORS = [
    {"name": "fenix.small", "vcpus": 2, "ram": 2048, "disk": 10},
    {"name": "fenix.tiny", "vcpus": 1, "ram": 512, "disk": 1},
]
IMAGE = "fenix-image"


def session():
    auth = v3.Password(
        auth_url=KEYSTONE,
        username="admin",
        password=os.environ["ADMIN_PASS"],
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return ks_session.Session(auth=auth)


class Rest:
    def __init__(self, sess, base, headers=None):
        self.sess, self.base, self.headers = sess, base, headers or {}

    def call(self, method, path, body=None, ok=(200, 201, 202, 204), **kw):
        headers = dict(self.headers, **kw.pop("headers", {}))
        r = self.sess.request(
            self.base + path, method, json=body, headers=headers, raise_exc=False, **kw
        )
        if r.status_code not in ok:
            raise SystemExit(f"{method} {self.base}{path}: HTTP {r.status_code} {r.text[:500]}")
        return r.json() if r.content and "json" in r.headers.get("Content-Type", "") else None


def find_or_create(api, collection, key, query, body):
    found = api.call("GET", f"/{collection}", params=query)[collection]
    if found:
        return found[0]
    return api.call("POST", f"/{collection}", {key: body})[key]


def identity(sess):
    ks = Rest(sess, KEYSTONE)
    roles = {}
    for name in ("admin", "member", "reader", "service"):
        roles[name] = find_or_create(ks, "roles", "role", {"name": name}, {"name": name})["id"]

    def project(name, description):
        return find_or_create(
            ks,
            "projects",
            "project",
            {"name": name, "domain_id": "default"},
            {"name": name, "domain_id": "default", "description": description, "enabled": True},
        )["id"]

    def user(name, password, default_project):
        return find_or_create(
            ks,
            "users",
            "user",
            {"name": name, "domain_id": "default"},
            {
                "name": name,
                "domain_id": "default",
                "password": password,
                "default_project_id": default_project,
                "enabled": True,
            },
        )["id"]

    def grant(project_id, user_id, role):
        ks.call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{roles[role]}")

    admin_user = ks.call("GET", "/users", params={"name": "admin", "domain_id": "default"})["users"][0]["id"]
    service = project("service", "Service project")
    for name in ENDPOINTS:
        uid = user(name, os.environ[f"{name.upper()}_PASS"], service)
        grant(service, uid, "admin")
        grant(service, uid, "service")
    for name in ("vnf-a", "vnf-b"):
        pid = project(name, f"Test tenant {name}")
        uid = user(name, os.environ[f"{name.upper().replace('-', '_')}_PASS"], pid)
        grant(pid, uid, "member")
        grant(pid, admin_user, "admin")

    for name, (stype, url, description) in ENDPOINTS.items():
        svc = find_or_create(
            ks, "services", "service", {"type": stype}, {"name": name, "type": stype, "description": description}
        )
        existing = ks.call("GET", "/endpoints", params={"service_id": svc["id"]})["endpoints"]
        for interface in ("public", "internal"):
            mine = [e for e in existing if e["interface"] == interface and e.get("region_id") == REGION]
            if mine and mine[0]["url"] == url:
                continue
            for e in mine:
                ks.call("DELETE", f"/endpoints/{e['id']}")
            ks.call(
                "POST",
                "/endpoints",
                {"endpoint": {"service_id": svc["id"], "interface": interface, "url": url, "region_id": REGION}},
            )


def resources(sess):
    nova = Rest(sess, "http://127.0.0.1:8774/v2.1", {"OpenStack-API-Version": "compute 2.53"})
    have = {f["name"]: f for f in nova.call("GET", "/flavors/detail", params={"is_public": "None"})["flavors"]}
    for f in FLAVORS:
        if f["name"] in have:
            h = have[f["name"]]
            if (h["vcpus"], h["ram"], h["disk"]) == (f["vcpus"], f["ram"], f["disk"]):
                continue
            nova.call("DELETE", f"/flavors/{h['id']}")
        nova.call("POST", "/flavors", {"flavor": dict(f, **{"os-flavor-access:is_public": True})})

    glance = Rest(sess, "http://127.0.0.1:9292/v2")
    images = glance.call("GET", "/images", params={"name": IMAGE})["images"]
    active = [i for i in images if i["status"] == "active"]
    for i in images:
        if i not in active[:1]:
            glance.call("DELETE", f"/images/{i['id']}")
    if active:
        return
    image = glance.call(
        "POST",
        "/images",
        {"name": IMAGE, "disk_format": "raw", "container_format": "bare", "visibility": "public"},
    )
    glance.call(
        "PUT",
        f"/images/{image['id']}/file",
        data=b"\0" * (1 << 20),
        headers={"Content-Type": "application/octet-stream"},
    )
    for _ in range(120):
        status = glance.call("GET", f"/images/{image['id']}")["status"]
        if status == "active":
            return
        if status in ("killed", "deleted"):
            break
        time.sleep(0.5)
    raise SystemExit(f"image {IMAGE} did not become active (status {status})")


if __name__ == "__main__":
    steps = {"identity": identity, "resources": resources}
    if len(sys.argv) != 2 or sys.argv[1] not in steps:
        raise SystemExit(f"usage: {sys.argv[0]} identity|resources")
    steps[sys.argv[1]](session())

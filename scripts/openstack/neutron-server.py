#!/usr/bin/python3
"""neutron-server for the local test cloud: Debian's /usr/bin/neutron-server plus one fix.

With no agents and no port_forwarding plugin, SQLAlchemy adds the Port.port_forwardings backref only
when the mappers get configured, i.e. on the first query; but get_ports reads that attribute *before*
its query. So until some other request (a network list, say) has run a query, every GET /v2.0/ports is
a 500 ("'Port' has no attribute 'port_forwardings'"), which Nova shows as a 500 on server list/show.
Importing all of Neutron's models and configuring the mappers at start removes the window.
Run: neutron-server.py --config-file neutron.conf --config-file ml2_conf.ini
"""

import sys

import neutron.cmd.eventlet  # noqa: F401  (eventlet monkey-patching first, as neutron-server does)
import sqlalchemy.orm
from neutron.cmd.eventlet.server import main
from neutron.db.migration.models import head  # noqa: F401  (every model of Neutron)

sqlalchemy.orm.configure_mappers()

if __name__ == "__main__":
    sys.argv[0] = "neutron-server"
    sys.exit(main())

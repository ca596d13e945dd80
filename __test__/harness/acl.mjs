// ACL users on any harness server (standalone, replica, cluster node, TLS): anything with cli().

/**
 * createAclUser(server, { user = 'app', password = 'secret', rules = ['~*', '&*', '+@all'] }) -> { user, password }
 * Runs ACL SETUSER <user> on ><password> <rules...>; pass several servers (a cluster) as an array.
 */
export async function createAclUser(servers, { user = 'app', password = 'secret', rules = ['~*', '&*', '+@all'] } = {}) {
  for (const server of [].concat(servers)) {
    const reply = await server.cli('acl', 'setuser', user, 'reset', 'on', `>${password}`, ...rules);
    if (reply !== 'OK') throw new Error(`ACL SETUSER ${user} on ${server.port}: ${reply}`);
  }
  return { user, password };
}


// The NS_ADD_RESOURCE script (sent by src/backends/redis/resources.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.

export const NS_ADD_RESOURCE = `-- NS_ADD_RESOURCE: adds a resource to the namespace's list (a view for inspect and the CLI).
-- KEYS:
--   1: resources: namespaceKeys().resources of src/backends/redis/keys.ts (SET, tag {ns})
-- ARGV:
--   1: resource
-- Returns: 1 when it is new, else 0
return redis.call('SADD', KEYS[1], ARGV[1])
`;

/* local.c - placeholder until the pack store lands. */
#include "store.h"
int store_local_open(cairn_store **out, const char *path, unsigned flags, unsigned lock_timeout_ms)
{
    (void)out; (void)flags; (void)lock_timeout_ms;
    return ERR(CAIRN_EUNSUPPORTED, "local store at %s: not built yet", path);
}

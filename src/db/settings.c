/*
 * settings.c - reading the repository's settings (see settings.h). Reads parse the object each
 * time: settings are read rarely (once per open, commit or log).
 */
#include <errno.h>
#include <stdlib.h>

#include "db/settings.h"
#include "repo/refs.h"
#include "store/store.h"

int settings_load(cairn_db *db, json_t **out, cairn_id *out_id, bool *exists)
{
    return settings_load_repo(&db->r, out, out_id, exists);
}

int settings_load_repo(repo *r, json_t **out, cairn_id *out_id, bool *exists)
{
    *exists = false;
    int rc = refs_read_id(r, SETTINGS_REF, out_id);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        *out = json_object();
        return *out ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory");
    }
    TRY(rc);
    *exists = true;
    chunk *c;
    TRY(cs_get(&r->cs, &c, out_id));
    json_error_t jerr;
    *out = json_loadb((const char *)c->data, c->len, JSON_REJECT_DUPLICATES, &jerr);
    chunk_release(c);
    if (*out && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
    }
    FAIL_IF(!*out, CAIRN_ECORRUPT, "the repository's settings (ref %s) are not a JSON object: %s",
            SETTINGS_REF, jerr.text);
    return CAIRN_OK;
}

int settings_parse_size(const char *name, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = text && *text >= '0' && *text <= '9' ? strtoull(text, &end, 10) : 0;
    bool ok = text && *text >= '0' && *text <= '9' && errno == 0;
    unsigned shift = 0;
    if (ok && *end) {
        shift = (*end == 'K' || *end == 'k') ? 10 : (*end == 'M' || *end == 'm') ? 20
                : (*end == 'G' || *end == 'g') ? 30 : 64;
        ok = shift < 64 && end[1] == '\0' && v <= (SETTING_SIZE_HIGH >> shift);
    }
    uint64_t bytes = ok ? (uint64_t)v << shift : 0;
    FAIL_IF(!ok || bytes < SETTING_SIZE_LOW || bytes > SETTING_SIZE_HIGH, CAIRN_EINVAL,
            "setting '%s' takes a size from 64K to 1G (bytes, or a number with K, M or G), "
            "not '%s'", name, text ? text : "");
    *out = bytes;
    return CAIRN_OK;
}

static void size_of(json_t *obj, const char *name, uint64_t *out)
{
    json_t *v = json_object_get(obj, name);
    *out = 0;
    if (!v) return;
    if (!json_is_string(v) || settings_parse_size(name, json_string_value(v), out) < 0) {
        cairn_diag(CAIRN_LOG_WARN, "ignoring the repository setting '%s': %s", name,
                   json_is_string(v) ? cairn_error_last()->message : "not a string");
        cairn_error_clear();
        *out = 0;
    }
}

/* The settings, or NULL after a warning that says what keeps its default (`what`): a setting
 * that cannot be read never stops an open. */
static json_t *load_or_warn(cairn_db *db, const char *what)
{
    json_t *obj;
    cairn_id id;
    bool exists;
    if (settings_load(db, &obj, &id, &exists) == CAIRN_OK) return obj;
    cairn_diag(CAIRN_LOG_WARN, "%s: %s: %s", db->r.url, what, cairn_error_last()->message);
    cairn_error_clear();
    return NULL;
}

void settings_wal_sizes(cairn_db *db, uint64_t *min, uint64_t *max)
{
    *min = *max = 0;
    json_t *obj = load_or_warn(db, "the log's segment sizes are the defaults");
    if (!obj) return;
    size_of(obj, SETTING_WAL_SEGMENT_MIN, min);
    size_of(obj, SETTING_WAL_SEGMENT_MAX, max);
    json_decref(obj);
}

int settings_parse_duration(const char *name, const char *text, double floor, double *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = text && *text >= '0' && *text <= '9' ? strtoull(text, &end, 10) : 0;
    bool ok = text && *text >= '0' && *text <= '9' && errno == 0 && v < (1ull << 40);
    double unit = 1;
    if (ok && *end) {
        unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
        ok = unit > 0 && end[1] == '\0';
    }
    double secs = ok ? (double)v * unit : 0;
    FAIL_IF(!ok || secs < floor, CAIRN_EINVAL,
            "setting '%s' takes a duration of at least %.0f seconds (whole seconds, or a number "
            "with s, m, h or d: 90s, 30m, 1h, 2d), not '%s'", name, floor, text ? text : "");
    *out = secs;
    return CAIRN_OK;
}

double settings_gc_grace(cairn_db *db, double dflt)
{
    double grace = dflt;
    json_t *obj = load_or_warn(db, "gc's grace period is the default");
    if (!obj) return dflt;
    json_t *v = json_object_get(obj, SETTING_GC_GRACE);
    if (v && (!json_is_string(v) || settings_parse_duration(SETTING_GC_GRACE,
                                                            json_string_value(v),
                                                            CAIRN_GC_GRACE_FLOOR, &grace) < 0)) {
        cairn_diag(CAIRN_LOG_WARN, "ignoring the repository setting '%s': %s", SETTING_GC_GRACE,
                   json_is_string(v) ? cairn_error_last()->message : "not a string");
        cairn_error_clear();
        grace = dflt;
    }
    json_decref(obj);
    return grace;
}

/* A string setting, or NULL. */
static const char *string_of(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

void settings_disk_cache(cairn_db *db)
{
    if (!store_diskcache_active(db->r.store)) return;
    json_t *obj = load_or_warn(db, "the disk cache keeps its defaults");
    if (!obj) return;
    store_diskcache_configure(db->r.store, db->r.url, string_of(obj, SETTING_CACHE_DIR),
                              string_of(obj, SETTING_CACHE_SIZE));
    json_decref(obj);
}

/*
 * config.c - repository settings (see config.h): a JSON object in a chunk named by the ref
 * "config". Reads parse it each time (settings are read rarely: once per commit or log);
 * writes replace it by compare-and-swap, so two writers never lose each other's change.
 */
#include <jansson.h>
#include <stdlib.h>

#include "base/hash.h"
#include "db/settings.h"
#include "vc/config.h"
#include "repo/keys.h"
#include "repo/refs.h"
#include "store/store.h"

int config_load_repo(repo *r, json_t **out, cairn_id *out_id, bool *exists)
{
    return settings_load_repo(r, out, out_id, exists);
}

int config_store_repo(repo *r, json_t *obj, const cairn_id *old, bool exists)
{
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    FAIL_IF(!text, CAIRN_ENOMEM, "out of memory writing settings");
    cairn_id id;
    int rc = cs_put(&r->cs, &id, NULL, text, strlen(text));
    free(text);
    if (rc == CAIRN_OK) rc = cs_flush(&r->cs);
    char oldv[66], newv[66];
    cairn_id_to_hex(newv, &id);
    newv[64] = '\n';
    if (exists) {
        cairn_id_to_hex(oldv, old);
        oldv[64] = '\n';
    }
    if (rc == CAIRN_OK)
        rc = r->store->ref_cas(r->store, CONFIG_REF, exists ? oldv : NULL, exists ? 65 : 0,
                                  newv, 65);
    if (rc == CAIRN_ECONFLICT)
        rc = ERR(CAIRN_ECONFLICT, "the settings changed concurrently; retry");
    return rc;
}

/* The settings of the handle's repository (see config_load_repo). */
static int config_load(cairn_db *db, json_t **out, cairn_id *out_id, bool *exists)
{
    return config_load_repo(&db->r, out, out_id, exists);
}

static int config_store(cairn_db *db, json_t *obj, const cairn_id *old, bool exists)
{
    return config_store_repo(&db->r, obj, old, exists);
}

int config_require_signature(cairn_db *db, bool *out)
{
    json_t *obj;
    cairn_id id;
    bool exists;
    TRY(config_load(db, &obj, &id, &exists));
    json_t *v = json_object_get(obj, CONFIG_REQUIRE_SIGNATURE);
    *out = v && json_is_string(v) && strcmp(json_string_value(v), "true") == 0;
    json_decref(obj);
    return CAIRN_OK;
}

/* The public key of a stored trust entry (a canonical ".pub" line), or false if it is not one
 * (an entry written by a future version, or damaged: it trusts nothing). */
static bool pub_of_line(const char *line, uint8_t out[32])
{
    cairn_key_info ki;
    if (publine_parse(&ki, line, strlen(line), "trusted key", CAIRN_ECORRUPT) != CAIRN_OK) {
        cairn_error_clear();
        return false;
    }
    memcpy(out, ki.public_key, 32);
    return true;
}

int config_is_trusted(cairn_db *db, const uint8_t pub[32], bool *out)
{
    json_t *obj;
    cairn_id id;
    bool exists;
    TRY(config_load(db, &obj, &id, &exists));
    *out = false;
    json_t *list = json_object_get(obj, CONFIG_TRUSTED_KEYS), *item;
    size_t i;
    uint8_t k[32];
    json_array_foreach(list, i, item)
        if (json_is_string(item) && pub_of_line(json_string_value(item), k) && memcmp(k, pub, 32) == 0)
            *out = true;
    json_decref(obj);
    return CAIRN_OK;
}

/* Whether name is a setting cairn knows (else CAIRN_EINVAL listing those it knows). */
static int setting_known(const char *name)
{
    static const char *const known[] = { CONFIG_REQUIRE_SIGNATURE, CONFIG_AUDIT_READS,
                                         SETTING_WAL_SEGMENT_MIN,  SETTING_WAL_SEGMENT_MAX,
                                         SETTING_GC_GRACE,         SETTING_CACHE_DIR,
                                         SETTING_CACHE_SIZE };
    char list[256] = "";
    for (size_t i = 0, at = 0; i < ARRAY_LEN(known); i++) {
        if (strcmp(name, known[i]) == 0) return CAIRN_OK;
        int n = snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", known[i]);
        at = MIN(at + (size_t)MAX(n, 0), sizeof list - 1);
    }
    return ERR(CAIRN_EINVAL, "unknown setting '%s' (known: %s)", name, list);
}

int cairn_config_get(char **out, cairn_db *db, const char *name)
{
    TRY(setting_known(name));
    json_t *obj;
    cairn_id id;
    bool exists;
    TRY(config_load(db, &obj, &id, &exists));
    json_t *v = json_object_get(obj, name);
    int rc = CAIRN_OK;
    if (!v || !json_is_string(v)) rc = ERR(CAIRN_ENOTFOUND, "setting '%s' is not set", name);
    else if (!(*out = cairn_strdup(json_string_value(v)))) rc = ERR(CAIRN_ENOMEM, "out of memory");
    json_decref(obj);
    return rc;
}

int cairn_config_set(cairn_db *db, const char *name, const char *value)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    bool size = strcmp(name, SETTING_WAL_SEGMENT_MIN) == 0 ||
                strcmp(name, SETTING_WAL_SEGMENT_MAX) == 0;
    bool duration = strcmp(name, SETTING_GC_GRACE) == 0;
    bool cache = strcmp(name, SETTING_CACHE_DIR) == 0 || strcmp(name, SETTING_CACHE_SIZE) == 0;
    TRY(setting_known(name));
    uint64_t bytes;
    double secs;
    if (size && value) TRY(settings_parse_size(name, value, &bytes));
    if (duration && value)
        TRY(settings_parse_duration(name, value, CAIRN_GC_GRACE_FLOOR, &secs));
    if (cache && value && strcmp(name, SETTING_CACHE_SIZE) == 0)
        TRY(store_diskcache_parse_size(value, &bytes));
    FAIL_IF(cache && value && strcmp(name, SETTING_CACHE_DIR) == 0 && value[0] != '/',
            CAIRN_EINVAL, "setting '%s' takes an absolute directory path, not '%s'", name, value);
    FAIL_IF(!size && !duration && !cache && value && strcmp(value, "true") != 0 &&
                strcmp(value, "false") != 0,
            CAIRN_EINVAL, "setting '%s' takes true or false", name);
    DB_NOT_IN_CALLBACK(db, "cairn_config_set");
    pthread_mutex_lock(&db->wmu);
    json_t *obj;
    cairn_id id;
    bool exists;
    int rc = config_load(db, &obj, &id, &exists);
    if (rc == CAIRN_OK) {
        if (value) json_object_set_new(obj, name, json_string(value));
        else json_object_del(obj, name);
        rc = config_store(db, obj, &id, exists);
        json_decref(obj);
    }
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

int cairn_trust_key(cairn_db *db, const char *pub_line)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    FAIL_IF(!pub_line, CAIRN_EINVAL, "cairn_trust_key: a public key line is required");
    cairn_key_info ki;
    TRY(publine_parse(&ki, pub_line, strlen(pub_line), "public key line", CAIRN_EINVAL));
    uint8_t have[32];
    const uint8_t *k = ki.public_key;
    char line[PUBLINE_MAX + 1];
    size_t n = publine_format(line, ki.name, ki.public_key);
    line[n - 1] = '\0'; /* stored without its newline */
    DB_NOT_IN_CALLBACK(db, "cairn_trust_key");
    pthread_mutex_lock(&db->wmu);
    json_t *obj;
    cairn_id id;
    bool exists;
    int rc = config_load(db, &obj, &id, &exists);
    if (rc == CAIRN_OK) {
        json_t *list = json_object_get(obj, CONFIG_TRUSTED_KEYS), *item;
        if (!list) json_object_set_new(obj, CONFIG_TRUSTED_KEYS, list = json_array());
        size_t i;
        bool dup = false;
        json_array_foreach(list, i, item)
            if (json_is_string(item) && pub_of_line(json_string_value(item), have) &&
                memcmp(have, k, 32) == 0)
                dup = true;
        if (!dup) {
            json_array_append_new(list, json_string(line));
            rc = config_store(db, obj, &id, exists);
        }
        json_decref(obj);
    }
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

int cairn_trusted_keys(cairn_db *db, int (*cb)(const char *line, void *payload), void *payload)
{
    json_t *obj;
    cairn_id id;
    bool exists;
    TRY(config_load(db, &obj, &id, &exists));
    json_t *list = json_object_get(obj, CONFIG_TRUSTED_KEYS), *item;
    size_t i;
    int rc = CAIRN_OK;
    json_array_foreach(list, i, item)
        if (rc == CAIRN_OK && json_is_string(item)) rc = cb(json_string_value(item), payload);
    json_decref(obj);
    return rc;
}

/*
 * cmd_repair.c - `cairn repair [--dry-run] [--json]`: lists the damage the store knows of
 * (damaged pack ranges, quarantined bytes, damaged ref slots, unreadable refs) and repairs what
 * can be repaired without losing anything: quarantined chunks not in the store are put back, and
 * a ref's damaged slot is rewritten from its valid one. Each item is one line, "problem:",
 * "fixed:" or "note:", then its message; then the counts. Exits with 3 when problems remain.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "cli.h"
#include "jsonl.h"

static const char *item_kind(int kind)
{
    switch (kind) {
    case CAIRN_REPAIR_PACK_DAMAGE: return "pack_damage";
    case CAIRN_REPAIR_QUARANTINE: return "quarantine";
    case CAIRN_REPAIR_REF_SLOT: return "ref_slot";
    case CAIRN_REPAIR_REF_DAMAGED: return "ref_damaged";
    default: return "other";
    }
}

static int on_item(const cairn_repair_item *it, void *payload)
{
    json_t *list = payload;
    if (!list) {
        printf("%s: %s\n", it->fixed ? "fixed" : it->problem ? "problem" : "note", it->message);
        return 0;
    }
    json_t *o = json_pack("{s:s,s:b,s:b,s:s,s:I,s:I,s:s}", "kind", item_kind(it->kind),
                          "problem", it->problem, "fixed", it->fixed, "file", it->file,
                          "offset", (json_int_t)it->offset, "length", (json_int_t)it->length,
                          "message", it->message);
    if (!o || json_array_append_new(list, o) != 0) return CAIRN_ENOMEM;
    return 0;
}

int cmd_repair(const cli_args *a)
{
    bool dry = a->opt[OPT_DRY_RUN] != NULL, json = a->opt[OPT_JSON] != NULL;
    json_t *list = json ? json_array() : NULL;
    if (json && !list) return cli_err(EXIT_FAIL, "out of memory");
    cairn_repair_options o = CAIRN_REPAIR_OPTIONS_INIT;
    if (dry) o.flags |= CAIRN_REPAIR_DRY_RUN;
    o.on_item = on_item;
    o.payload = list;
    cairn_db *db;
    int code = cli_open(&db, a, !dry);
    if (code != EXIT_OK) {
        json_decref(list);
        return code;
    }
    cairn_repair_stats s;
    int rc = cairn_repair(&s, db, &o);
    if (rc != CAIRN_OK) {
        json_decref(list);
        return cli_close(db, cli_lib_err(rc));
    }
    uint64_t left = s.problems - s.fixed;
    if (json) {
        json_t *doc = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:o}", "dry_run", dry, "problems",
                                (json_int_t)s.problems, "fixed", (json_int_t)s.fixed,
                                "chunks_restored", (json_int_t)s.chunks_restored,
                                "slots_rewritten", (json_int_t)s.slots_rewritten, "remaining",
                                (json_int_t)left, "items", list);
        if (!doc) return cli_close(db, cli_err(EXIT_FAIL, "out of memory"));
        code = jsonl_dump(stdout, doc) == 0 ? EXIT_OK : cli_err(EXIT_FAIL, "writing failed");
        json_decref(doc);
    } else {
        printf("%-16s%" PRIu64 "\n", "problems", s.problems);
        printf("%-16s%" PRIu64 "%s\n", "fixed", s.fixed, dry ? " (dry run: nothing was changed)" : "");
        printf("%-16s%" PRIu64 "\n", "chunks_restored", s.chunks_restored);
        printf("%-16s%" PRIu64 "\n", "slots_rewritten", s.slots_rewritten);
        code = cli_flush_stdout();
    }
    if (code == EXIT_OK && left) {
        code = cli_err(EXIT_FAIL, "%" PRIu64 " problem%s %s; run 'cairn verify' to see what "
                       "the damage affects", left, left == 1 ? "" : "s",
                       dry ? "found (a dry run changes nothing)"
                           : left == 1 ? "remains that repair cannot fix"
                                       : "remain that repair cannot fix");
    }
    return cli_close(db, code);
}

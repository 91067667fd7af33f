/*
 * options.c - the option structs' initialisers as functions, for language bindings that cannot
 * expand the *_INIT macros of cairn.h. Each one is exactly its macro.
 */
#include "cairn.h"

void cairn_open_options_init(cairn_open_options *out)
{
    if (out) *out = (cairn_open_options)CAIRN_OPEN_OPTIONS_INIT;
}

size_t cairn_open_options_size(void) { return sizeof(cairn_open_options); }

void cairn_commit_options_init(cairn_commit_options *out)
{
    if (out) *out = (cairn_commit_options)CAIRN_COMMIT_OPTIONS_INIT;
}

void cairn_gc_options_init(cairn_gc_options *out)
{
    if (out) *out = (cairn_gc_options)CAIRN_GC_OPTIONS_INIT;
}

void cairn_verify_options_init(cairn_verify_options *out)
{
    if (out) *out = (cairn_verify_options)CAIRN_VERIFY_OPTIONS_INIT;
}

void cairn_range_init(cairn_range *out)
{
    if (out) *out = (cairn_range)CAIRN_RANGE_INIT;
}

/*
 * signer_pending.c - placeholder for the keys module's signer until it is merged: signing is
 * refused with a clear message (verification works without it). Removed when keys.c lands.
 */
#include "sig.h"

int signer_sign_commit(cairn_signer *signer, commit *c)
{
    (void)signer;
    (void)c;
    return ERR(CAIRN_EUNSUPPORTED, "signing keys are not available in this build yet");
}

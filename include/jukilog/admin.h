/* admin.h: what the prefecture's admin signs onto the admin topic. */
#ifndef JUKILOG_ADMIN_H
#define JUKILOG_ADMIN_H

#include <openssl/evp.h>

#include "jukilog/config.h"
#include "jukilog/err.h"

/* Registers key as the key of source (key.registered, signed by the admin key in
 * $JUKILOG_HOME/keys/admin.pem), unless the admin topic already holds that very key for source.
 * Returns 0 when registered now, 1 when it was registered already, -1 on error. */
int jk_admin_register_key(const jk_config_t *cfg, const char *source, EVP_PKEY *key, jk_err_t *err);

#endif

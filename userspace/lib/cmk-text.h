/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libcmk: text for terminals, logs and the journal (cmk-text.c). */
#ifndef CMK_TEXT_H
#define CMK_TEXT_H

#include <stdbool.h>
#include <stddef.h>

char *cmk_text_escape(const char *in, char *out, size_t size);
bool cmk_text_plain(const char *s);

#endif /* CMK_TEXT_H */

/*
 * Producer-controlled bytes made safe to show: the one escaper behind
 * sluice-dump's text and CSV output and the collector's log lines, so a
 * producer name or payload can neither drive the operator's terminal (ESC
 * sequences), forge a line (a newline), reorder what is shown (Unicode
 * bidi controls) nor fake a field (a space, with SL_ESC_SPACE).
 *
 * Printable UTF-8 stays as it is. Everything else is written as C
 * escapes: \\ for a backslash, \n \t \r, and \xNN for every other byte of
 * a C0/C1 control, DEL, invalid UTF-8, or an invisible formatting
 * character (sl_esc_invisible()). The escapes give back the exact bytes.
 */
#ifndef SL_ESCAPE_H
#define SL_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

#define SL_ESC_SPACE 1u  /* ' ' becomes \x20: a field that cannot split */
#define SL_ESC_DQUOTE 2u /* '"' is doubled (inside a CSV quoted field) */

/* Largest output of one input character: 4 bytes as \xNN each. */
#define SL_ESC_MAX_PER_CHAR 16u

/** Length of the well-formed UTF-8 sequence at p (n > 0 bytes), or 0: no
 *  overlongs, no surrogates, at most U+10FFFF. */
size_t sl_utf8_len(const uint8_t *p, size_t n);

/** 1 if the character of len bytes at p (one sl_utf8_len() sequence) is
 *  an invisible formatting character that can disguise text: U+061C,
 *  U+200B..U+200F, U+2028..U+202E (line/paragraph separators and the
 *  bidi embeddings and overrides), U+2060..U+206F (the bidi isolates
 *  U+2066..U+2069 among them), U+FEFF. */
int sl_esc_invisible(const uint8_t *p, size_t len);

/** 1 if the character of len bytes at p is shown as it is (not a
 *  control, DEL, C1 control or invisible formatting character). */
int sl_esc_printable(const uint8_t *p, size_t len);

/** 1 if sl_escape() would copy p[0..n) unchanged. */
int sl_esc_plain(const uint8_t *p, size_t n, unsigned flags);

/**
 * Escapes p[0..n) into out, as much as fits in cap bytes without cutting
 * an escape or a character. Not NUL-terminated.
 * @param used  Receives how many input bytes were consumed (n once all).
 * @return      Bytes written to out.
 */
size_t sl_escape(char *out, size_t cap, const uint8_t *p, size_t n,
                 unsigned flags, size_t *used);

/**
 * Escapes p[0..n) into a NUL-terminated string in out (cap > 0), cut at
 * a character boundary with "..." when it does not fit. For log lines.
 * @return out.
 */
const char *sl_escape_str(char *out, size_t cap, const void *p, size_t n,
                          unsigned flags);

#endif

/*
 * wasmloop's side of the llhttp module: many parsers in one instance, and
 * llhttp's callbacks turned into records in a table, so the host makes one
 * call per read (wl_execute) and one pass over the table, never a crossing
 * per header or per byte.
 *
 * The memory is fixed (no growth: the host keeps typed-array views over it).
 * wl_init carves three regions after the stack, in this order:
 *
 *   ┌──────────────┬───────┬─────────────────┬───────────────────────┬─────────────┐
 *   │ static data  │ stack │ parsers         │ span table            │ input       │
 *   │ (llhttp's    │       │ maxParsers ×    │ HEADER_WORDS +        │ inputBytes  │
 *   │ tables, the  │       │ sizeof(llhttp_t)│ records × RECORD_WORDS│             │
 *   │ constants)   │       │                 │ i32                   │             │
 *   └──────────────┴───────┴─────────────────┴───────────────────────┴─────────────┘
 *                            written by llhttp  written by the callbacks written by the
 *                            and wl_* only      during wl_execute and    host (or the
 *                                               wl_finish; read by the   kernel); read by
 *                                               host after they return   llhttp in wl_execute
 *
 * The span table belongs to the last wl_execute or wl_finish, whichever parser
 * it was for: the host reads it before the next call. Its header:
 *
 *   word 0  COUNT  records written by that call
 *   word 1  STOP   input bytes consumed: the length, unless the call returned an
 *                  error or a pause, where llhttp stopped (llhttp_get_error_pos);
 *                  0 for a parser already stopped when the call came
 *
 * A record is four i32 words, [kind, a, b, c]:
 *
 *   URL, HEADER_FIELD, HEADER_VALUE, BODY    a = offset from the first byte given to
 *                                            wl_execute, b = length, c = LAST or 0
 *                                            (always 0 for BODY)
 *   HEADERS_COMPLETE                         a = info (below), b, c = Content-Length,
 *                                            low and high 32 bits (unsigned)
 *   CHUNK_HEADER                             b, c = the chunk's size, likewise
 *   MESSAGE_BEGIN, CHUNK_COMPLETE,
 *   MESSAGE_COMPLETE                         a = b = c = 0
 *
 * A URL, field or value cut by the end of the bytes arrives in pieces, one per
 * wl_execute; its last piece has c = LAST (set when llhttp calls its _complete
 * callback). A token that ends where a call begins (or resumes) gets a last
 * piece of length 0, and so does an empty header value. Other pieces, body
 * pieces included, are never empty.
 *
 * info: method (bits 0-5), keep-alive (6, llhttp_should_keep_alive), upgrade (7,
 * llhttp's decision: Connection: upgrade with Upgrade, or CONNECT), HTTP major
 * (8-11) and minor (12-15), llhttp's F_* flags (16-31).
 *
 * A full table pauses the parser: the callback that writes the last record
 * returns HPE_PAUSED, so wl_execute returns it with STOP where llhttp stopped;
 * the host reads the table, calls wl_resume and goes on from STOP. Writing
 * before pausing matters: llhttp does not call a span's callback again.
 *
 * An obsolete line folding in a header value is refused (see on_header_value).
 *
 * The method and version spans are not recorded: llhttp accepts only the
 * methods of its table, byte for byte, and one digit each for the version, so
 * HEADERS_COMPLETE carries them exactly in fewer records. Chunk extensions and
 * responses (on_status) are not recorded: parsers here parse requests.
 *
 * The host's own constants (kinds, words, bits) and llhttp's error codes, flags
 * and method names come from wl_constants(): one definition, read at load.
 */
#include <stddef.h>
#include <stdint.h>

#include <emscripten/emscripten.h>

#include "llhttp.h"

#define WL_KINDS(XX)      \
  XX(1, MESSAGE_BEGIN)    \
  XX(2, URL)              \
  XX(3, HEADER_FIELD)     \
  XX(4, HEADER_VALUE)     \
  XX(5, HEADERS_COMPLETE) \
  XX(6, BODY)             \
  XX(7, CHUNK_HEADER)     \
  XX(8, CHUNK_COMPLETE)   \
  XX(9, MESSAGE_COMPLETE)

enum wl_kind {
#define WL_KIND_ENUM(CODE, NAME) WL_##NAME = CODE,
  WL_KINDS(WL_KIND_ENUM)
#undef WL_KIND_ENUM
};

enum {
  WL_RECORD_WORDS = 4,
  /* COUNT, STOP and two spare words: records stay 16-byte aligned. */
  WL_HEADER_WORDS = 4,
  WL_HEADER_COUNT = 0,
  WL_HEADER_STOP = 1,
  WL_LAST = 1,
  /* wl_finish writes one record (MESSAGE_COMPLETE) and must not pause. */
  WL_MIN_RECORDS = 2,
  WL_INFO_METHOD_MASK = 0x3f,
  WL_INFO_KEEP_ALIVE = 0x40,
  WL_INFO_UPGRADE = 0x80,
  WL_INFO_MAJOR_SHIFT = 8,
  WL_INFO_MINOR_SHIFT = 12,
  WL_INFO_VERSION_MASK = 0xf,
  WL_INFO_FLAGS_SHIFT = 16,
  /* Negative, so never an llhttp_errno. */
  WL_ERR_BAD_PARSER = -1,
  WL_ERR_BAD_RANGE = -2,
  WL_ERR_NO_ROOM = -3,
  WL_ERR_INITIALIZED = -4,
  WL_ALIGN = 16,
};

#define WL_METHOD_FITS(CODE, NAME, STRING) \
  _Static_assert(CODE <= WL_INFO_METHOD_MASK, "method " #STRING " fits the info word");
HTTP_ALL_METHOD_MAP(WL_METHOD_FITS)
#undef WL_METHOD_FITS
_Static_assert(sizeof(((llhttp_t*) 0)->flags) == 2, "llhttp's flags fit the info word");

extern unsigned char __heap_base;

static llhttp_settings_t settings;
static llhttp_t* parsers;
static int32_t max_parsers;
/* Slots below `touched` have been handed out at least once; the free ones among
 * them form a list through their `data` field. Slots above were never written,
 * so their pages are never touched: an idle table costs address space only. */
static int32_t touched;
static int32_t free_head = -1;

static int32_t* table;
static int32_t* records;
static int32_t record_capacity;
static int32_t count;

static unsigned char* input;
static int32_t input_capacity;

/* The bytes given to the running wl_execute: span offsets count from base. */
static const char* base;
static const char* end;

/* A live parser's `data` (its free-list link while free) holds this bit
 * between the end of a header value's span and its _complete callback. */
#define WL_VALUE_ENDED ((void*) 1)

static int record(int32_t kind, int32_t a, int32_t b, int32_t c) {
  int32_t* r = records + count * WL_RECORD_WORDS;
  r[0] = kind;
  r[1] = a;
  r[2] = b;
  r[3] = c;
  return ++count == record_capacity ? HPE_PAUSED : HPE_OK;
}

static int span(int32_t kind, const char* at, size_t length) {
  if (length == 0) return HPE_OK;
  return record(kind, (int32_t) (at - base), (int32_t) length, 0);
}

/* Marks the token's last piece, or writes an empty one when the last piece
 * went out with an earlier call (or there was none). */
static int last(int32_t kind) {
  if (count > 0) {
    int32_t* r = records + (count - 1) * WL_RECORD_WORDS;
    if (r[0] == kind && r[3] == 0) {
      r[3] = WL_LAST;
      return HPE_OK;
    }
  }
  return record(kind, 0, 0, WL_LAST);
}

static int on_message_begin(llhttp_t* p) {
  (void) p;
  return record(WL_MESSAGE_BEGIN, 0, 0, 0);
}

static int on_url(llhttp_t* p, const char* at, size_t length) {
  (void) p;
  return span(WL_URL, at, length);
}

static int on_url_complete(llhttp_t* p) {
  (void) p;
  return last(WL_URL);
}

static int on_header_field(llhttp_t* p, const char* at, size_t length) {
  (void) p;
  return span(WL_HEADER_FIELD, at, length);
}

static int on_header_field_complete(llhttp_t* p) {
  (void) p;
  return last(WL_HEADER_FIELD);
}

/* llhttp 8.1 takes an obsolete line folding ("X: a\r\n  b") as a value in
 * two spans with no _complete between them, or, when the first line is empty,
 * as a value starting on the next line. RFC 9112 (5.2) lets a server refuse it
 * or join it; node:http (llhttp 9) refuses it, and so does this, since the
 * host could not tell the second span from the next piece of a value cut by a
 * read. A value span that starts after a line feed and blanks is a folded one
 * (an empty one is not: llhttp hands over an empty value at the next line);
 * a span that ends before the end of the bytes was ended by llhttp (one that
 * reaches the end is the piece handed over when the bytes run out), so a
 * second span before _complete is one too. Not caught: an empty first line
 * whose line feed came in an earlier read, which llhttp joins as RFC 9112
 * allows. */
static int folded(const char* at) {
  while (at > base && (at[-1] == ' ' || at[-1] == '\t')) at--;
  return at > base && at[-1] == '\n';
}

static int on_header_value(llhttp_t* p, const char* at, size_t length) {
  if (p->data == WL_VALUE_ENDED || (length > 0 && folded(at))) {
    llhttp_set_error_reason(p, "Obsolete line folding in a header value");
    return HPE_INVALID_HEADER_TOKEN;
  }
  if (at + length < end) p->data = WL_VALUE_ENDED;
  return span(WL_HEADER_VALUE, at, length);
}

static int on_header_value_complete(llhttp_t* p) {
  p->data = NULL;
  return last(WL_HEADER_VALUE);
}

static int on_headers_complete(llhttp_t* p) {
  uint32_t info = (uint32_t) p->method | (uint32_t) p->http_major << WL_INFO_MAJOR_SHIFT |
                  (uint32_t) p->http_minor << WL_INFO_MINOR_SHIFT | (uint32_t) p->flags << WL_INFO_FLAGS_SHIFT;
  if (llhttp_should_keep_alive(p)) info |= WL_INFO_KEEP_ALIVE;
  if (p->upgrade) info |= WL_INFO_UPGRADE;
  return record(WL_HEADERS_COMPLETE, (int32_t) info, (int32_t) (uint32_t) p->content_length,
                (int32_t) (uint32_t) (p->content_length >> 32));
}

static int on_body(llhttp_t* p, const char* at, size_t length) {
  (void) p;
  return span(WL_BODY, at, length);
}

static int on_chunk_header(llhttp_t* p) {
  return record(WL_CHUNK_HEADER, 0, (int32_t) (uint32_t) p->content_length,
                (int32_t) (uint32_t) (p->content_length >> 32));
}

static int on_chunk_complete(llhttp_t* p) {
  (void) p;
  return record(WL_CHUNK_COMPLETE, 0, 0, 0);
}

static int on_message_complete(llhttp_t* p) {
  (void) p;
  return record(WL_MESSAGE_COMPLETE, 0, 0, 0);
}

static size_t align(size_t n) {
  return (n + WL_ALIGN - 1) & ~(size_t) (WL_ALIGN - 1);
}

static size_t heap_start(void) {
  return align((size_t) &__heap_base);
}

static int in_use(int32_t parser) {
  return parser >= 0 && parser < touched && parsers[parser].settings == &settings;
}

/* ---- the host's calls --------------------------------------------------- */

/* Bytes the three regions need, or -1 past 2 GiB (more than any memory here). */
EMSCRIPTEN_KEEPALIVE int32_t wl_layout_bytes(int32_t parser_count, int32_t record_count, int32_t input_bytes) {
  if (parser_count < 1 || record_count < WL_MIN_RECORDS || input_bytes < 1) return -1;
  uint64_t bytes = align((uint64_t) parser_count * sizeof(llhttp_t)) +
                   align((uint64_t) (WL_HEADER_WORDS + (uint64_t) record_count * WL_RECORD_WORDS) * 4) +
                   align((uint64_t) input_bytes);
  return bytes > INT32_MAX ? -1 : (int32_t) bytes;
}

/* Bytes of memory after the stack, for the three regions. */
EMSCRIPTEN_KEEPALIVE int32_t wl_available_bytes(void) {
  return (int32_t) (__builtin_wasm_memory_size(0) * 65536 - heap_start());
}

EMSCRIPTEN_KEEPALIVE int32_t wl_init(int32_t parser_count, int32_t record_count, int32_t input_bytes) {
  if (parsers != NULL) return WL_ERR_INITIALIZED;
  int32_t bytes = wl_layout_bytes(parser_count, record_count, input_bytes);
  if (bytes < 0 || bytes > wl_available_bytes()) return WL_ERR_NO_ROOM;
  unsigned char* at = (unsigned char*) heap_start();
  parsers = (llhttp_t*) at;
  at += align((size_t) parser_count * sizeof(llhttp_t));
  table = (int32_t*) at;
  records = table + WL_HEADER_WORDS;
  at += align((WL_HEADER_WORDS + (size_t) record_count * WL_RECORD_WORDS) * 4);
  input = at;
  max_parsers = parser_count;
  record_capacity = record_count;
  input_capacity = input_bytes;

  llhttp_settings_init(&settings);
  settings.on_message_begin = on_message_begin;
  settings.on_url = on_url;
  settings.on_url_complete = on_url_complete;
  settings.on_header_field = on_header_field;
  settings.on_header_field_complete = on_header_field_complete;
  settings.on_header_value = on_header_value;
  settings.on_header_value_complete = on_header_value_complete;
  settings.on_headers_complete = on_headers_complete;
  settings.on_body = on_body;
  settings.on_chunk_header = on_chunk_header;
  settings.on_chunk_complete = on_chunk_complete;
  settings.on_message_complete = on_message_complete;
  return 0;
}

EMSCRIPTEN_KEEPALIVE int32_t wl_table_offset(void) {
  return (int32_t) (uintptr_t) table;
}

EMSCRIPTEN_KEEPALIVE int32_t wl_input_offset(void) {
  return (int32_t) (uintptr_t) input;
}

EMSCRIPTEN_KEEPALIVE int32_t wl_input_capacity(void) {
  return input_capacity;
}

/* A request parser's handle, or -1 when all are in use. Freed slots are reused
 * first (last freed, first reused), so the touched part of the table stays as
 * small as the most parsers ever live at once. */
EMSCRIPTEN_KEEPALIVE int32_t wl_alloc(void) {
  int32_t parser;
  if (free_head >= 0) {
    parser = free_head;
    free_head = (int32_t) (intptr_t) parsers[parser].data;
  } else if (touched < max_parsers) {
    parser = touched++;
  } else {
    return -1;
  }
  llhttp_init(&parsers[parser], HTTP_REQUEST, &settings);
  return parser;
}

EMSCRIPTEN_KEEPALIVE int32_t wl_free(int32_t parser) {
  if (!in_use(parser)) return WL_ERR_BAD_PARSER;
  parsers[parser].settings = NULL;
  parsers[parser].data = (void*) (intptr_t) free_head;
  free_head = parser;
  return 0;
}

/* Parses input[offset, offset + length): llhttp's status (HPE_OK, HPE_PAUSED
 * for a full table, HPE_PAUSED_UPGRADE, or an error), with the table's COUNT
 * and STOP set. A parser stopped by an error earlier returns that error again
 * and consumes nothing; so does one paused and not resumed. */
EMSCRIPTEN_KEEPALIVE int32_t wl_execute(int32_t parser, int32_t offset, int32_t length) {
  if (!in_use(parser)) return WL_ERR_BAD_PARSER;
  if (offset < 0 || length < 0 || offset > input_capacity - length) return WL_ERR_BAD_RANGE;
  llhttp_t* p = &parsers[parser];
  count = 0;
  table[WL_HEADER_STOP] = 0;
  base = (const char*) input + offset;
  end = base + length;
  int32_t status;
  if (p->error != HPE_OK) {
    status = p->error;
  } else {
    status = llhttp_execute(p, base, (size_t) length);
    table[WL_HEADER_STOP] = status == HPE_OK ? length : (int32_t) (llhttp_get_error_pos(p) - base);
  }
  table[WL_HEADER_COUNT] = count;
  return status;
}

/* After HPE_PAUSED; harmless otherwise. */
EMSCRIPTEN_KEEPALIVE int32_t wl_resume(int32_t parser) {
  if (!in_use(parser)) return WL_ERR_BAD_PARSER;
  llhttp_resume(&parsers[parser]);
  return 0;
}

/* After HPE_PAUSED_UPGRADE, to parse what follows as HTTP again; harmless otherwise. */
EMSCRIPTEN_KEEPALIVE int32_t wl_resume_after_upgrade(int32_t parser) {
  if (!in_use(parser)) return WL_ERR_BAD_PARSER;
  llhttp_resume_after_upgrade(&parsers[parser]);
  return 0;
}

/* The peer sent its last byte: HPE_OK when it ended between requests (or a
 * message that ends at EOF is now complete: MESSAGE_COMPLETE in the table),
 * HPE_INVALID_EOF_STATE when it ended inside one. A parser stopped by an error
 * or a pause returns HPE_OK (llhttp_finish's rule). */
EMSCRIPTEN_KEEPALIVE int32_t wl_finish(int32_t parser) {
  if (!in_use(parser)) return WL_ERR_BAD_PARSER;
  count = 0;
  table[WL_HEADER_STOP] = 0;
  base = end = NULL;
  int32_t status = llhttp_finish(&parsers[parser]);
  table[WL_HEADER_COUNT] = count;
  return status;
}

/* llhttp's reason for the last error or pause (a C string in static data), or 0. */
EMSCRIPTEN_KEEPALIVE int32_t wl_reason(int32_t parser) {
  if (!in_use(parser)) return 0;
  return (int32_t) (uintptr_t) llhttp_get_error_reason(&parsers[parser]);
}

/* ---- constants, read once by the host ----------------------------------- */

struct wl_constant {
  const char* name;
  int32_t value;
};

#define WL_C(NAME) {#NAME, NAME},
#define WL_ERRNO(CODE, NAME, _) {"HPE_" #NAME, CODE},
#define WL_METHOD(CODE, NAME, STRING) {"METHOD_" #STRING, CODE},
#define WL_KIND(CODE, NAME) {"KIND_" #NAME, CODE},

static const struct wl_constant constants[] = {
  HTTP_ERRNO_MAP(WL_ERRNO)
  HTTP_ALL_METHOD_MAP(WL_METHOD)
  WL_KINDS(WL_KIND)
  WL_C(F_CONNECTION_KEEP_ALIVE)
  WL_C(F_CONNECTION_CLOSE)
  WL_C(F_CONNECTION_UPGRADE)
  WL_C(F_CHUNKED)
  WL_C(F_UPGRADE)
  WL_C(F_CONTENT_LENGTH)
  WL_C(F_SKIPBODY)
  WL_C(F_TRAILING)
  WL_C(F_TRANSFER_ENCODING)
  {"RECORD_WORDS", WL_RECORD_WORDS},
  {"HEADER_WORDS", WL_HEADER_WORDS},
  {"HEADER_COUNT", WL_HEADER_COUNT},
  {"HEADER_STOP", WL_HEADER_STOP},
  {"LAST", WL_LAST},
  {"MIN_RECORDS", WL_MIN_RECORDS},
  {"INFO_METHOD_MASK", WL_INFO_METHOD_MASK},
  {"INFO_KEEP_ALIVE", WL_INFO_KEEP_ALIVE},
  {"INFO_UPGRADE", WL_INFO_UPGRADE},
  {"INFO_MAJOR_SHIFT", WL_INFO_MAJOR_SHIFT},
  {"INFO_MINOR_SHIFT", WL_INFO_MINOR_SHIFT},
  {"INFO_VERSION_MASK", WL_INFO_VERSION_MASK},
  {"INFO_FLAGS_SHIFT", WL_INFO_FLAGS_SHIFT},
  {"ERR_BAD_PARSER", WL_ERR_BAD_PARSER},
  {"ERR_BAD_RANGE", WL_ERR_BAD_RANGE},
  {"ERR_NO_ROOM", WL_ERR_NO_ROOM},
  {"ERR_INITIALIZED", WL_ERR_INITIALIZED},
  {"PARSER_BYTES", (int32_t) sizeof(llhttp_t)},
  {"LLHTTP_VERSION_MAJOR", LLHTTP_VERSION_MAJOR},
  {"LLHTTP_VERSION_MINOR", LLHTTP_VERSION_MINOR},
  {"LLHTTP_VERSION_PATCH", LLHTTP_VERSION_PATCH},
  {NULL, 0},
};

/* The address of the table above: {name (C string address), value} pairs of i32, up to a null name. */
EMSCRIPTEN_KEEPALIVE int32_t wl_constants(void) {
  return (int32_t) (uintptr_t) constants;
}

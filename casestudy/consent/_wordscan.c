/* The pseudonymiser's word scan in C (casestudy.consent.pseudonyms, _Index._scanned).

   A text's words (maximal runs of ASCII letters and digits of its words-only copy, in
   lower case) are met with the words a name may start with, as the pure-Python way does
   with str.split and a set intersection, and at each such word the variants its letters
   and the following words' letters spell are tried as that way tries them
   (_Index._word_hit, _candidates, _first, _fits_fast, _fits_words): the table of the case
   (an "@" in the text, a capital at the word), a title first ("Dr Okafor": the title's
   regular expression is Python's), then the variants in rank order, each gap between two
   words checked by Python's _gap_fits (a single space remembered per gap expression),
   exact letters, the gaps that must hold something. Whatever this cannot decide (a variant
   with more after its last letter than accents, one with 64 letters or more, letters
   whose variants it has not been given yet) is handed back to Python, which matches that
   place exactly as before; each place's result does not depend on the places before it,
   so Python merges them as its own loop does. Nothing here knows a name: it holds the sets
   of letters and the variants' shapes the Python index gives it. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define F_TITLE (1u << 0)
#define F_LETTERS (1u << 1)
#define F_STARTS(t) (1u << (2 + (t) * 6))
#define F_INCOMPLETE(t) (1u << (3 + (t) * 6))
#define F_SECONDS(t) (1u << (4 + (t) * 6))
#define F_CUTS(t) (1u << (5 + (t) * 6))

#define NO_MATCH (-1)
#define TO_PYTHON (-2) /* Python decides this place */
#define UNDEFINED (-3) /* Python decides, then gives the variants of the letters met (define) */
#define ERROR (-4)     /* a Python exception is set */
#define MAX_CANDIDATES 64
#define TAIL_PLAIN 0  /* nothing but accents after the last letter: the match ends with its word */
#define TAIL_AT 1     /* the same, then an "@" (an e-mail form) */
#define TAIL_PYTHON 2 /* anything else: Python's expression decides */
#define SPACE_CACHE 256
#define FILTER_BITS 18 /* a bit per hash of every letters held: most words of a text are none, and are passed over
                          here (32 KB, in the processor's cache) without reading the table */
#define FOLD_LIMIT 0x250 /* Latin letters up to here fold to their ASCII letter in C (fold_map) */

typedef struct {
    long rank;
    unsigned char needs_at, needs_capital, tail, solid, complex; /* tail: TAIL_PLAIN, TAIL_AT or TAIL_PYTHON */
    Py_ssize_t ngaps, nexact;
    long *gaps;
    uint64_t must;
    Py_ssize_t *exact_at;
    Py_UCS4 *exact_ch;
    unsigned char *local_gaps; /* as packed (define_packed): the stored gap numbers, for stored() */
    long head_i, tail_i;      /* as packed: numbers into the heads and tails given */
} Variant;

typedef struct {
    uint64_t hash;
    Py_ssize_t offset; /* into keys; -1: empty slot */
    uint32_t len;
    uint32_t flags;
    Py_ssize_t nvariants; /* -1: not given yet */
    Variant *variants;
} Entry;

typedef struct {
    Py_ssize_t start;
    uint64_t hash;
    uint32_t len;
    uint32_t flags;
    Entry *entry;
} Word;

typedef struct {
    PyObject_HEAD
    Entry *entries;
    size_t capacity, used;
    char *keys;
    size_t keys_len, keys_cap;
    Word *words;
    size_t words_cap;
    char *lower;
    size_t lower_cap;
    PyObject *gap_fits;    /* pseudonyms._gap_fits */
    PyObject *title_match; /* pseudonyms._TITLE_ONLY.match */
    signed char space_fits[SPACE_CACHE]; /* gap id -> a single space fits (1), not (0), unknown (-1) */
    uint64_t filter[(1u << FILTER_BITS) / 64];
    PyObject *heads, *tails; /* define_packed's: the sources a packed variant's numbers stand for */
    unsigned char fold_map[FOLD_LIMIT]; /* a character beyond ASCII -> its ASCII letter, a space, or 0: Python folds */
} Scanner;

static inline size_t filter_bit(uint64_t hash) { return (size_t)(hash >> 40) & ((1u << FILTER_BITS) - 1); }

static const uint64_t FNV_OFFSET = 1469598103934665603ULL;
static const uint64_t FNV_PRIME = 1099511628211ULL;

static inline uint64_t fnv(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV_PRIME;
    }
    return h;
}

static inline size_t slot_of(uint64_t hash, size_t capacity) { return (size_t)(hash ^ (hash >> 29)) & (capacity - 1); }

/* the entry of the letters a (+ b), or NULL */
static Entry *find(Scanner *self, uint64_t hash, const char *a, size_t na, const char *b, size_t nb) {
    if (!self->capacity)
        return NULL;
    size_t i = slot_of(hash, self->capacity);
    for (;;) {
        Entry *e = &self->entries[i];
        if (e->offset < 0)
            return NULL;
        if (e->hash == hash && e->len == na + nb) {
            const char *k = self->keys + e->offset;
            if (memcmp(k, a, na) == 0 && (nb == 0 || memcmp(k + na, b, nb) == 0))
                return e;
        }
        i = (i + 1) & (self->capacity - 1);
    }
}

static int grow(Scanner *self) {
    size_t capacity = self->capacity ? self->capacity * 2 : 1024;
    Entry *entries = PyMem_Malloc(capacity * sizeof(Entry));
    if (!entries) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < capacity; i++)
        entries[i].offset = -1;
    for (size_t i = 0; i < self->capacity; i++) {
        Entry *e = &self->entries[i];
        if (e->offset < 0)
            continue;
        size_t j = slot_of(e->hash, capacity);
        while (entries[j].offset >= 0)
            j = (j + 1) & (capacity - 1);
        entries[j] = *e;
    }
    PyMem_Free(self->entries);
    self->entries = entries;
    self->capacity = capacity;
    return 0;
}

static Entry *insert(Scanner *self, const char *s, size_t n) {
    uint64_t hash = fnv(FNV_OFFSET, s, n);
    Entry *e = find(self, hash, s, n, NULL, 0);
    if (e)
        return e;
    if ((self->used + 1) * 2 > self->capacity && grow(self) < 0)
        return NULL;
    if (self->keys_len + n > self->keys_cap) {
        size_t cap = self->keys_cap ? self->keys_cap : 65536;
        while (cap < self->keys_len + n)
            cap *= 2;
        char *keys = PyMem_Realloc(self->keys, cap);
        if (!keys) {
            PyErr_NoMemory();
            return NULL;
        }
        self->keys = keys;
        self->keys_cap = cap;
    }
    memcpy(self->keys + self->keys_len, s, n);
    size_t i = slot_of(hash, self->capacity);
    while (self->entries[i].offset >= 0)
        i = (i + 1) & (self->capacity - 1);
    e = &self->entries[i];
    e->hash = hash;
    e->offset = (Py_ssize_t)self->keys_len;
    e->len = (uint32_t)n;
    e->flags = 0;
    e->nvariants = -1;
    e->variants = NULL;
    self->filter[filter_bit(hash) / 64] |= (uint64_t)1 << (filter_bit(hash) % 64);
    self->keys_len += n;
    self->used++;
    return e;
}

/* a combining accent, as pseudonyms._MARKS has them */
static inline int is_mark(Py_UCS4 c) {
    return (c >= 0x0300 && c <= 0x036f) || (c >= 0x1ab0 && c <= 0x1aff) || (c >= 0x1dc0 && c <= 0x1dff) ||
           (c >= 0x20d0 && c <= 0x20ff) || (c >= 0xfe20 && c <= 0xfe2f);
}

static inline int is_word_char(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

static void free_variants(Variant *variants, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyMem_Free(variants[i].gaps);
        PyMem_Free(variants[i].exact_at);
        PyMem_Free(variants[i].exact_ch);
        PyMem_Free(variants[i].local_gaps);
    }
    PyMem_Free(variants);
}

static void Scanner_dealloc(Scanner *self) {
    for (size_t i = 0; i < self->capacity; i++)
        if (self->entries[i].offset >= 0 && self->entries[i].nvariants > 0)
            free_variants(self->entries[i].variants, self->entries[i].nvariants);
    PyMem_Free(self->entries);
    PyMem_Free(self->keys);
    PyMem_Free(self->words);
    PyMem_Free(self->lower);
    Py_XDECREF(self->gap_fits);
    Py_XDECREF(self->title_match);
    Py_XDECREF(self->heads);
    Py_XDECREF(self->tails);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Scanner(gap_fits, title_match, fold_map): fold_map, bytes: for each character below FOLD_LIMIT
   (those below 128 aside), its ASCII letter or digit, a space, or 0 where Python folds it */
static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwds) {
    PyObject *gap_fits, *title_match;
    Py_buffer fold_map;
    if (!PyArg_ParseTuple(args, "OOy*:Scanner", &gap_fits, &title_match, &fold_map))
        return -1;
    memset(self->fold_map, 0, sizeof(self->fold_map));
    for (Py_ssize_t i = 128; i < fold_map.len && i < FOLD_LIMIT; i++) {
        unsigned char c = ((const unsigned char *)fold_map.buf)[i];
        self->fold_map[i] = (c == ' ' || is_word_char(c)) ? c : 0;
    }
    PyBuffer_Release(&fold_map);
    Py_INCREF(gap_fits);
    Py_INCREF(title_match);
    Py_XSETREF(self->gap_fits, gap_fits);
    Py_XSETREF(self->title_match, title_match);
    memset(self->space_fits, -1, sizeof(self->space_fits));
    return 0;
}

/* add(strings, flag): set ``flag`` on each string (strings not all ASCII are left out: a
   word of the words-only copy is ASCII, so it can never be one of them) */
static PyObject *Scanner_add(Scanner *self, PyObject *args) {
    PyObject *iterable;
    unsigned long flag;
    if (!PyArg_ParseTuple(args, "Ok:add", &iterable, &flag))
        return NULL;
    PyObject *iterator = PyObject_GetIter(iterable);
    if (!iterator)
        return NULL;
    PyObject *item;
    while ((item = PyIter_Next(iterator))) {
        if (!PyUnicode_Check(item)) {
            Py_DECREF(item);
            Py_DECREF(iterator);
            PyErr_SetString(PyExc_TypeError, "Scanner.add: strings only");
            return NULL;
        }
        if (PyUnicode_IS_ASCII(item) && PyUnicode_GET_LENGTH(item) > 0) {
            Entry *e = insert(self, (const char *)PyUnicode_1BYTE_DATA(item), (size_t)PyUnicode_GET_LENGTH(item));
            if (!e) {
                Py_DECREF(item);
                Py_DECREF(iterator);
                return NULL;
            }
            e->flags |= (uint32_t)flag;
        }
        Py_DECREF(item);
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* a variant's arrays for ``ngaps`` gaps and ``nexact`` exact letters (at least one each) */
static int alloc_variant(Variant *v, Py_ssize_t ngaps, Py_ssize_t nexact) {
    v->ngaps = ngaps;
    v->nexact = nexact;
    v->gaps = PyMem_Malloc((ngaps ? ngaps : 1) * sizeof(long));
    v->exact_at = PyMem_Malloc((nexact ? nexact : 1) * sizeof(Py_ssize_t));
    v->exact_ch = PyMem_Malloc((nexact ? nexact : 1) * sizeof(Py_UCS4));
    if (!v->gaps || !v->exact_at || !v->exact_ch) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* the exact letters of a variant: ``exact`` is a tuple of (place, one character); ``caller``
   names the method in errors */
static int read_exact(Variant *v, PyObject *exact, const char *caller) {
    for (Py_ssize_t i = 0; i < v->nexact; i++) {
        PyObject *ch;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(exact, i), "nU:exact", &v->exact_at[i], &ch))
            return -1;
        if (PyUnicode_GET_LENGTH(ch) != 1) {
            PyErr_Format(PyExc_ValueError, "%s: an exact letter is one character", caller);
            return -1;
        }
        v->exact_ch[i] = PyUnicode_READ_CHAR(ch, 0);
    }
    return 0;
}

static int read_variant(PyObject *item, Variant *v) {
    PyObject *gaps, *must, *exact;
    int needs_at, needs_capital, tail;
    if (!PyArg_ParseTuple(item, "lppiOOO:variant", &v->rank, &needs_at, &needs_capital, &tail, &gaps, &must, &exact))
        return -1;
    v->needs_at = (unsigned char)needs_at;
    v->needs_capital = (unsigned char)needs_capital;
    v->tail = (unsigned char)(tail == TAIL_PLAIN || tail == TAIL_AT ? tail : TAIL_PYTHON);
    if (!PyTuple_Check(gaps) || !PyTuple_Check(must) || !PyTuple_Check(exact)) {
        PyErr_SetString(PyExc_TypeError, "Scanner.define: gaps, must and exact are tuples");
        return -1;
    }
    if (alloc_variant(v, PyTuple_GET_SIZE(gaps), PyTuple_GET_SIZE(exact)) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < v->ngaps; i++) {
        v->gaps[i] = PyLong_AsLong(PyTuple_GET_ITEM(gaps, i));
        if (v->gaps[i] == -1 && PyErr_Occurred())
            return -1;
    }
    v->must = 0;
    v->solid = PyTuple_GET_SIZE(must) == 0;
    v->complex = v->ngaps >= 64;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(must); i++) {
        long at = PyLong_AsLong(PyTuple_GET_ITEM(must, i));
        if (at == -1 && PyErr_Occurred())
            return -1;
        if (at < 0 || at >= 64)
            v->complex = 1;
        else
            v->must |= (uint64_t)1 << at;
    }
    return read_exact(v, exact, "Scanner.define");
}

/* The entry of ``word`` (a str) when it is ASCII letters that begin a name's variants, else NULL */
static Entry *letters_entry(Scanner *self, PyObject *word) {
    if (!PyUnicode_Check(word) || !PyUnicode_IS_ASCII(word))
        return NULL;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(word);
    size_t n = (size_t)PyUnicode_GET_LENGTH(word);
    Entry *e = find(self, fnv(FNV_OFFSET, s, n), s, n, NULL, 0);
    return e && (e->flags & F_LETTERS) ? e : NULL;
}

/* define(letters, variants): the variants spelled ``letters``, each
   (rank, needs_at, needs_capital, tail kind, gaps, must, exact) as _Shape holds them */
static PyObject *Scanner_define(Scanner *self, PyObject *args) {
    PyObject *word, *items;
    if (!PyArg_ParseTuple(args, "UO!:define", &word, &PyList_Type, &items))
        return NULL;
    Entry *e = letters_entry(self, word);
    if (!e)
        Py_RETURN_FALSE;
    if (e->nvariants >= 0)
        Py_RETURN_TRUE;
    Py_ssize_t count = PyList_GET_SIZE(items);
    Variant *variants = PyMem_Calloc(count ? count : 1, sizeof(Variant));
    if (!variants)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < count; i++) {
        if (read_variant(PyList_GET_ITEM(items, i), &variants[i]) < 0) {
            free_variants(variants, count);
            return NULL;
        }
    }
    e->variants = variants;
    e->nvariants = count;
    Py_RETURN_TRUE;
}

/* one variant as the stored tables keep it (_Index.stored: rank, exact letters, head, gaps as
   bytes of numbers into ``gap_ids``, tail), read as _Shape reads it */
static int read_stored(PyObject *item, Variant *v, PyObject *gap_ids, PyObject *gap_must, PyObject *plain_tails, PyObject *at_tails) {
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 5) {
        PyErr_SetString(PyExc_TypeError, "Scanner.define_stored: a stored variant is a 5-tuple");
        return -1;
    }
    v->rank = PyLong_AsLong(PyTuple_GET_ITEM(item, 0));
    if (v->rank == -1 && PyErr_Occurred())
        return -1;
    PyObject *exact = PyTuple_GET_ITEM(item, 1), *head = PyTuple_GET_ITEM(item, 2);
    PyObject *gaps = PyTuple_GET_ITEM(item, 3), *tail = PyTuple_GET_ITEM(item, 4);
    if (!PyTuple_Check(exact) || !PyUnicode_Check(head) || !PyBytes_Check(gaps) || !PyUnicode_Check(tail)) {
        PyErr_SetString(PyExc_TypeError, "Scanner.define_stored: not a stored variant");
        return -1;
    }
    if (alloc_variant(v, PyBytes_GET_SIZE(gaps), PyTuple_GET_SIZE(exact)) < 0)
        return -1;
    /* a head (something before the first letter) is never matched here: handed to Python */
    v->complex = v->ngaps >= 64 || PyUnicode_GET_LENGTH(head) > 0;
    v->must = 0;
    const unsigned char *numbers = (const unsigned char *)PyBytes_AS_STRING(gaps);
    for (Py_ssize_t i = 0; i < v->ngaps; i++) {
        if (numbers[i] >= PyList_GET_SIZE(gap_ids)) {
            PyErr_SetString(PyExc_ValueError, "Scanner.define_stored: a gap number out of range");
            return -1;
        }
        long gap = PyLong_AsLong(PyList_GET_ITEM(gap_ids, numbers[i]));
        if (gap == -1 && PyErr_Occurred())
            return -1;
        if (gap < 0 || gap >= PyList_GET_SIZE(gap_must)) {
            PyErr_SetString(PyExc_ValueError, "Scanner.define_stored: an unknown gap");
            return -1;
        }
        v->gaps[i] = gap;
        int must = PyObject_IsTrue(PyList_GET_ITEM(gap_must, gap));
        if (must < 0)
            return -1;
        if (must && i < 64)
            v->must |= (uint64_t)1 << i;
    }
    v->solid = v->must == 0 && !v->complex;
    if (read_exact(v, exact, "Scanner.define_stored") < 0)
        return -1;
    v->needs_capital = v->nexact > 0 && Py_UNICODE_ISUPPER(v->exact_ch[0]);
    int plain = PySequence_Contains(plain_tails, tail), before_at = PySequence_Contains(at_tails, tail);
    if (plain < 0 || before_at < 0)
        return -1;
    v->tail = plain ? TAIL_PLAIN : before_at ? TAIL_AT : TAIL_PYTHON;
    Py_ssize_t found = PyUnicode_FindChar(tail, '@', 0, PyUnicode_GET_LENGTH(tail), 1);
    if (found == -2)
        return -1;
    if (found >= 0) { /* as _Shape.needs_at: the tail holds "(?=@)" */
        PyObject *lookahead = PyUnicode_FromString("(?=@)");
        if (!lookahead)
            return -1;
        found = PyUnicode_Find(tail, lookahead, 0, PyUnicode_GET_LENGTH(tail), 1);
        Py_DECREF(lookahead);
        if (found == -2)
            return -1;
    }
    v->needs_at = found >= 0;
    return 0;
}

/* define_stored(by_letters, gap_ids, gap_must, plain_tails, at_tails): the variants of every
   letters whose value in ``by_letters`` is still as stored (a tuple); lists are left for
   :meth:`define` */
static PyObject *Scanner_define_stored(Scanner *self, PyObject *args) {
    PyObject *by_letters, *gap_ids, *gap_must, *plain_tails, *at_tails;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!:define_stored", &PyDict_Type, &by_letters, &PyList_Type, &gap_ids, &PyList_Type,
                          &gap_must, &PyTuple_Type, &plain_tails, &PyTuple_Type, &at_tails))
        return NULL;
    Py_ssize_t position = 0, defined = 0;
    PyObject *key, *value;
    while (PyDict_Next(by_letters, &position, &key, &value)) {
        if (!PyTuple_Check(value))
            continue;
        Entry *e = letters_entry(self, key);
        if (!e || e->nvariants >= 0)
            continue;
        Py_ssize_t count = PyTuple_GET_SIZE(value);
        Variant *variants = PyMem_Calloc(count ? count : 1, sizeof(Variant));
        if (!variants)
            return PyErr_NoMemory();
        for (Py_ssize_t i = 0; i < count; i++) {
            if (read_stored(PyTuple_GET_ITEM(value, i), &variants[i], gap_ids, gap_must, plain_tails, at_tails) < 0) {
                free_variants(variants, count);
                return NULL;
            }
        }
        e->variants = variants;
        e->nvariants = count;
        defined++;
    }
    return PyLong_FromSsize_t(defined);
}

/* a reader of packed bytes (little-endian) */
typedef struct {
    const unsigned char *at, *end;
} Reader;

static int take(Reader *r, size_t n, uint32_t *out) {
    if ((size_t)(r->end - r->at) < n) {
        PyErr_SetString(PyExc_ValueError, "Scanner.define_packed: the packed variants end too soon");
        return -1;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint32_t)r->at[i] << (8 * i);
    r->at += n;
    *out = v;
    return 0;
}

/* define_packed(packed, gap_ids, gap_must, heads, tails, tail_kinds): every variant at once,
   as pseudonyms._pack wrote them: b"WSC1", then per letters (u16 length, the letters, u16
   count) each variant (u32 rank, u16 head, u16 tail, u16 gaps, a byte per gap, u16 exact
   letters, each u16 place and u32 character); heads and tails: the sources those numbers
   stand for, tail_kinds: TAIL_* of each tail, gap_ids: each stored gap number's gap id,
   gap_must: whether each gap id must hold something. The number of letters defined. */
static PyObject *Scanner_define_packed(Scanner *self, PyObject *args) {
    Py_buffer packed;
    PyObject *gap_ids, *gap_must, *heads, *tails, *tail_kinds;
    if (!PyArg_ParseTuple(args, "y*O!O!O!O!O!:define_packed", &packed, &PyList_Type, &gap_ids, &PyList_Type, &gap_must,
                          &PyTuple_Type, &heads, &PyTuple_Type, &tails, &PyTuple_Type, &tail_kinds)) {
        return NULL;
    }
    Reader r = {(const unsigned char *)packed.buf, (const unsigned char *)packed.buf + packed.len};
    Py_ssize_t defined = 0;
    uint32_t v;
    if (packed.len < 4 || memcmp(packed.buf, "WSC1", 4) != 0 || PyTuple_GET_SIZE(tail_kinds) != PyTuple_GET_SIZE(tails)) {
        PyErr_SetString(PyExc_ValueError, "Scanner.define_packed: not packed variants of this format");
        goto error;
    }
    r.at += 4;
    Py_INCREF(heads);
    Py_XSETREF(self->heads, heads);
    Py_INCREF(tails);
    Py_XSETREF(self->tails, tails);
    while (r.at < r.end) {
        uint32_t length, count;
        if (take(&r, 2, &length) < 0 || (size_t)(r.end - r.at) < length)
            goto short_error;
        const char *key = (const char *)r.at;
        r.at += length;
        if (take(&r, 2, &count) < 0)
            goto error;
        Entry *e = insert(self, key, length);
        if (!e)
            goto error;
        e->flags |= F_LETTERS;
        Variant *variants = PyMem_Calloc(count ? count : 1, sizeof(Variant));
        if (!variants) {
            PyErr_NoMemory();
            goto error;
        }
        for (uint32_t i = 0; i < count; i++) {
            Variant *var = &variants[i];
            uint32_t head, tail, ngaps, nexact;
            if (take(&r, 4, &v) < 0 || take(&r, 2, &head) < 0 || take(&r, 2, &tail) < 0 || take(&r, 2, &ngaps) < 0)
                goto variant_error;
            var->rank = (long)v;
            var->head_i = head;
            var->tail_i = tail;
            if (head >= (uint32_t)PyTuple_GET_SIZE(heads) || tail >= (uint32_t)PyTuple_GET_SIZE(tails)) {
                PyErr_SetString(PyExc_ValueError, "Scanner.define_packed: a head or tail out of range");
                goto variant_error;
            }
            var->ngaps = ngaps;
            var->gaps = PyMem_Malloc((ngaps ? ngaps : 1) * sizeof(long));
            var->local_gaps = PyMem_Malloc(ngaps ? ngaps : 1);
            if (!var->gaps || !var->local_gaps || (size_t)(r.end - r.at) < ngaps) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "Scanner.define_packed: the packed variants end too soon");
                goto variant_error;
            }
            memcpy(var->local_gaps, r.at, ngaps);
            r.at += ngaps;
            var->complex = ngaps >= 64 || PyObject_IsTrue(PyTuple_GET_ITEM(heads, head)); /* a head: Python's */
            var->must = 0;
            for (uint32_t g = 0; g < ngaps; g++) {
                if (var->local_gaps[g] >= PyList_GET_SIZE(gap_ids)) {
                    PyErr_SetString(PyExc_ValueError, "Scanner.define_packed: a gap number out of range");
                    goto variant_error;
                }
                long gap = PyLong_AsLong(PyList_GET_ITEM(gap_ids, var->local_gaps[g]));
                if (gap == -1 && PyErr_Occurred())
                    goto variant_error;
                if (gap < 0 || gap >= PyList_GET_SIZE(gap_must)) {
                    PyErr_SetString(PyExc_ValueError, "Scanner.define_packed: an unknown gap");
                    goto variant_error;
                }
                var->gaps[g] = gap;
                int must = PyObject_IsTrue(PyList_GET_ITEM(gap_must, gap));
                if (must < 0)
                    goto variant_error;
                if (must && g < 64)
                    var->must |= (uint64_t)1 << g;
            }
            var->solid = var->must == 0 && !var->complex;
            if (take(&r, 2, &nexact) < 0)
                goto variant_error;
            var->nexact = nexact;
            var->exact_at = PyMem_Malloc((nexact ? nexact : 1) * sizeof(Py_ssize_t));
            var->exact_ch = PyMem_Malloc((nexact ? nexact : 1) * sizeof(Py_UCS4));
            if (!var->exact_at || !var->exact_ch) {
                PyErr_NoMemory();
                goto variant_error;
            }
            for (uint32_t x = 0; x < nexact; x++) {
                uint32_t place, ch;
                if (take(&r, 2, &place) < 0 || take(&r, 4, &ch) < 0)
                    goto variant_error;
                var->exact_at[x] = place;
                var->exact_ch[x] = ch;
            }
            var->needs_capital = nexact > 0 && Py_UNICODE_ISUPPER(var->exact_ch[0]);
            long kind = PyLong_AsLong(PyTuple_GET_ITEM(tail_kinds, tail));
            if (kind == -1 && PyErr_Occurred())
                goto variant_error;
            var->needs_at = kind == TAIL_AT; /* as _Shape.needs_at: the tail holds "(?=@)" (tail_kinds says) */
            var->tail = (unsigned char)(kind == TAIL_PLAIN || kind == TAIL_AT ? kind : TAIL_PYTHON);
            continue;
        variant_error:
            free_variants(variants, count);
            goto error;
        }
        if (e->nvariants > 0)
            free_variants(e->variants, e->nvariants);
        e->variants = variants;
        e->nvariants = count;
        defined++;
    }
    PyBuffer_Release(&packed);
    return PyLong_FromSsize_t(defined);
short_error:
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "Scanner.define_packed: the packed variants end too soon");
error:
    PyBuffer_Release(&packed);
    return NULL;
}

/* stored(letters): the variants of ``letters`` in their stored form (_Index.stored: rank,
   exact letters, head, gaps as bytes, tail), from define_packed's; None if it gave none */
static PyObject *Scanner_stored(Scanner *self, PyObject *args) {
    PyObject *word;
    if (!PyArg_ParseTuple(args, "U:stored", &word))
        return NULL;
    if (!PyUnicode_IS_ASCII(word) || !self->heads)
        Py_RETURN_NONE;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(word);
    size_t n = (size_t)PyUnicode_GET_LENGTH(word);
    Entry *e = find(self, fnv(FNV_OFFSET, s, n), s, n, NULL, 0);
    if (!e || !(e->flags & F_LETTERS) || e->nvariants < 0 || (e->nvariants > 0 && !e->variants[0].local_gaps))
        Py_RETURN_NONE;
    PyObject *out = PyTuple_New(e->nvariants);
    if (!out)
        return NULL;
    for (Py_ssize_t i = 0; i < e->nvariants; i++) {
        const Variant *var = &e->variants[i];
        PyObject *exact = PyTuple_New(var->nexact);
        if (!exact) {
            Py_DECREF(out);
            return NULL;
        }
        for (Py_ssize_t x = 0; x < var->nexact; x++) {
            PyObject *pair = Py_BuildValue("(nN)", var->exact_at[x], PyUnicode_FromOrdinal((int)var->exact_ch[x]));
            if (!pair) {
                Py_DECREF(exact);
                Py_DECREF(out);
                return NULL;
            }
            PyTuple_SET_ITEM(exact, x, pair);
        }
        PyObject *item = Py_BuildValue("(lNOy#O)", var->rank, exact, PyTuple_GET_ITEM(self->heads, var->head_i),
                                       (const char *)var->local_gaps, (Py_ssize_t)var->ngaps,
                                       PyTuple_GET_ITEM(self->tails, var->tail_i));
        if (!item) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, item);
    }
    return out;
}

typedef struct {
    Scanner *self;
    PyObject *text;
    int kind;
    const void *data;
    const unsigned char *chars;
    Word *words;
    size_t count;
    int at;
} Scan;

/* does text[begin:end] fit gap expression ``gap``? 1, 0, or -1 (an exception) */
static int gap_fits(Scan *scan, long gap, Py_ssize_t begin, Py_ssize_t end) {
    int space = end - begin == 1 && PyUnicode_READ(scan->kind, scan->data, begin) == ' ' && gap >= 0 && gap < SPACE_CACHE;
    if (space && scan->self->space_fits[gap] >= 0)
        return scan->self->space_fits[gap];
    PyObject *between = PyUnicode_Substring(scan->text, begin, end);
    if (!between)
        return -1;
    PyObject *result = PyObject_CallFunction(scan->self->gap_fits, "lO", gap, between);
    Py_DECREF(between);
    if (!result)
        return -1;
    int fits = PyObject_IsTrue(result);
    Py_DECREF(result);
    if (fits >= 0 && space)
        scan->self->space_fits[gap] = (signed char)fits;
    return fits;
}

/* where variant ``v`` over words j..last ends (_Index._fits_fast), NO_MATCH, TO_PYTHON or ERROR */
static Py_ssize_t fits(Scan *scan, const Variant *v, size_t j, size_t last) {
    const Word *words = scan->words;
    if (v->complex)
        return TO_PYTHON;
    Py_ssize_t end = words[j].start + words[j].len;
    Py_ssize_t count = words[j].len; /* letters before the next word */
    uint64_t between = 0;            /* the gaps that fall between two words */
    for (size_t k = j + 1; k <= last; k++) {
        if (count - 1 >= v->ngaps)
            return TO_PYTHON; /* cannot be: the letters are the variant's */
        int ok = gap_fits(scan, v->gaps[count - 1], end, words[k].start);
        if (ok < 0)
            return ERROR;
        if (!ok)
            return NO_MATCH;
        between |= (uint64_t)1 << (count - 1);
        count += words[k].len;
        end = words[k].start + words[k].len;
    }
    if ((v->must & between) != v->must)
        return NO_MATCH; /* a gap that must hold something, inside a word */
    for (Py_ssize_t x = 0; x < v->nexact; x++) {
        Py_ssize_t i = v->exact_at[x], before = 0;
        size_t k = j;
        while (k <= last && i - before >= (Py_ssize_t)words[k].len) {
            before += words[k].len;
            k++;
        }
        if (k > last)
            return TO_PYTHON;
        if (PyUnicode_READ(scan->kind, scan->data, words[k].start + i - before) != v->exact_ch[x])
            return NO_MATCH;
    }
    if (v->tail == TAIL_PLAIN)
        return end;
    if (v->tail == TAIL_AT) /* no accent mark in the text: the tail is the "@" that follows */
        return end < PyUnicode_GET_LENGTH(scan->text) && PyUnicode_READ(scan->kind, scan->data, end) == '@' ? end : NO_MATCH;
    return TO_PYTHON; /* the tail's expression is Python's */
}

typedef struct {
    long rank;
    const Variant *variant;
    size_t last;
} Candidate;

static Entry *find_words(Scanner *self, uint64_t hash, const unsigned char *chars, const Word *words, size_t j, size_t last) {
    size_t len = 0;
    if (!self->capacity)
        return NULL;
    for (size_t k = j; k <= last; k++)
        len += words[k].len;
    size_t i = slot_of(hash, self->capacity);
    for (;;) {
        Entry *e = &self->entries[i];
        if (e->offset < 0)
            return NULL;
        if (e->hash == hash && e->len == len) {
            const char *key = self->keys + e->offset;
            size_t at = 0, k = j;
            for (; k <= last; k++) {
                if (memcmp(key + at, chars + words[k].start, words[k].len) != 0)
                    break;
                at += words[k].len;
            }
            if (k > last)
                return e;
        }
        i = (i + 1) & (self->capacity - 1);
    }
}


/* the variants whose letters words j, j+1, ... spell, in rank order, in the table of
   ``capital`` (_Index._candidates): NO_MATCH (none decided yet), or TO_PYTHON, UNDEFINED */
static int candidates(Scan *scan, size_t j, int capital, Candidate *found, int *count) {
    Scanner *self = scan->self;
    const Word *words = scan->words;
    const uint32_t cuts = F_CUTS(2 * scan->at + capital);
    int n = 0;
    size_t last = j;
    Entry *e = words[j].entry;
    uint64_t hash = words[j].hash;
    *count = 0;
    for (;;) {
        if (e && (e->flags & F_LETTERS)) {
            if (e->nvariants < 0)
                return UNDEFINED;
            for (Py_ssize_t i = 0; i < e->nvariants; i++) {
                const Variant *v = &e->variants[i];
                if ((scan->at || !v->needs_at) && (capital || !v->needs_capital)) {
                    if (n == MAX_CANDIDATES)
                        return TO_PYTHON;
                    int at = n++; /* in rank order (insertion) */
                    while (at > 0 && found[at - 1].rank > v->rank) {
                        found[at] = found[at - 1];
                        at--;
                    }
                    found[at].rank = v->rank;
                    found[at].variant = v;
                    found[at].last = last;
                }
            }
        }
        last++;
        if (last >= scan->count || !(e && (e->flags & cuts)))
            break;
        hash = fnv(hash, (const char *)scan->chars + words[last].start, words[last].len);
        e = find_words(self, hash, scan->chars, words, j, last);
    }
    *count = n;
    return NO_MATCH; /* nothing decided yet */
}

/* the end of the first of ``found`` that fits (_Index._first), or NO_MATCH, TO_PYTHON, ERROR */
static Py_ssize_t first_fit(Scan *scan, size_t j, const Candidate *found, int n) {
    for (int i = 0; i < n; i++) {
        Py_ssize_t end = fits(scan, found[i].variant, j, found[i].last);
        if (end != NO_MATCH)
            return end;
    }
    return NO_MATCH;
}

static int append(PyObject **out, PyObject *item) {
    if (!item)
        return -1;
    if (!*out && !(*out = PyList_New(0))) {
        Py_DECREF(item);
        return -1;
    }
    int rc = PyList_Append(*out, item);
    Py_DECREF(item);
    return rc;
}

/* scan(text, folded, at) -> (places, handed): each place a match may start, in order: a
   match (start, end, title or None), or (word index, start, -2 or -3) where Python decides
   (-3: and then gives the variants of the letters met, :meth:`define`). ``handed`` False:
   no place was handed to Python, and ``places`` are the matches (one that starts inside
   the one before left out). ``folded``: the words-only copy (ASCII letters and digits in
   lower case, every other character a space), or None to fold it here (then None if a
   letter or digit of the text is not ASCII, or it holds a combining accent: Python folds
   it). None if ``folded`` is not such a copy. */
/* an ASCII character as the words-only copy has it: a letter in lower case, a digit, else a space */
static unsigned char ascii_fold[256];

static PyObject *scan_text(Scanner *self, PyObject *text, PyObject *folded, int at, int *handed_out) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const unsigned char *chars;
    if (folded == Py_None) { /* letters and digits in lower case, every other character a space */
        if ((size_t)n > self->lower_cap) {
            char *lower = PyMem_Realloc(self->lower, (size_t)n + 1);
            if (!lower)
                return PyErr_NoMemory();
            self->lower = lower;
            self->lower_cap = (size_t)n;
        }
        unsigned char *lower = (unsigned char *)self->lower;
        if (PyUnicode_IS_ASCII(text)) {
            const unsigned char *source = PyUnicode_1BYTE_DATA(text);
            for (Py_ssize_t i = 0; i < n; i++)
                lower[i] = ascii_fold[source[i]];
        } else { /* as _WORD_FOLD_TABLE, where fold_map knows the letter; any other letter or digit beyond ASCII,
                    or an accent mark, and Python folds the text */
            const int kind = PyUnicode_KIND(text);
            const void *data = PyUnicode_DATA(text);
            for (Py_ssize_t i = 0; i < n; i++) {
                Py_UCS4 c = PyUnicode_READ(kind, data, i);
                if (c < 128) {
                    lower[i] = ascii_fold[c];
                } else if (c < FOLD_LIMIT && self->fold_map[c]) {
                    lower[i] = self->fold_map[c]; /* an accented Latin letter: its ASCII letter */
                } else if (Py_UNICODE_ISALNUM(c) || is_mark(c)) {
                    Py_RETURN_NONE;
                } else {
                    lower[i] = ' ';
                }
            }
        }
        chars = lower;
    } else {
        if (!PyUnicode_Check(folded) || !PyUnicode_IS_ASCII(folded) || PyUnicode_GET_LENGTH(folded) != n)
            Py_RETURN_NONE;
        chars = PyUnicode_1BYTE_DATA(folded);
        for (Py_ssize_t i = 0; i < n; i++)
            if (chars[i] != ' ' && !is_word_char(chars[i]))
                Py_RETURN_NONE; /* not a words-only copy: the Python way */
    }
    /* the words, each with its entry */
    size_t count = 0;
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && chars[i] == ' ')
            i++;
        if (i >= n)
            break;
        Py_ssize_t start = i;
        uint64_t h = FNV_OFFSET;
        while (i < n && chars[i] != ' ') {
            h ^= chars[i];
            h *= FNV_PRIME;
            i++;
        }
        if (count == self->words_cap) {
            size_t cap = self->words_cap ? self->words_cap * 2 : 4096;
            Word *words = PyMem_Realloc(self->words, cap * sizeof(Word));
            if (!words)
                return PyErr_NoMemory();
            self->words = words;
            self->words_cap = cap;
        }
        Word *w = &self->words[count++];
        w->start = start;
        w->len = (uint32_t)(i - start);
        w->hash = h;
        w->entry = (self->filter[filter_bit(h) / 64] >> (filter_bit(h) % 64)) & 1
                       ? find(self, h, (const char *)chars + start, w->len, NULL, 0) : NULL;
        w->flags = w->entry ? w->entry->flags : 0;
    }
    Scan scan = {self, text, PyUnicode_KIND(text), PyUnicode_DATA(text), chars, self->words, count, at};
    PyObject *out = NULL; /* made at the first place: most texts have none */
    const int t1 = 2 * at + 1;
    const uint32_t present = F_STARTS(t1) | F_TITLE;
    Word *words = self->words;
    int handed = 0;
    Py_ssize_t resume = 0;
    for (size_t j = 0; j < count; j++) {
        uint32_t f = words[j].flags;
        if (!(f & present))
            continue;
        Py_ssize_t start = words[j].start;
        if (!handed && start < resume)
            continue;
        int capital = Py_UNICODE_ISUPPER(PyUnicode_READ(scan.kind, scan.data, start)) ? 1 : 0;
        int t = 2 * at + capital;
        int has_next = j + 1 < count;
        int first = (f & F_STARTS(t)) && (!(f & F_INCOMPLETE(t)) || (has_next && (words[j + 1].flags & F_SECONDS(t))));
        int titled = (f & F_TITLE) && has_next;
        Candidate found[MAX_CANDIDATES];
        int n = 0;
        Py_ssize_t end = NO_MATCH;
        if (first)
            end = candidates(&scan, j, capital, found, &n);
        if (end == NO_MATCH && !n && !(titled && (words[j + 1].flags & F_STARTS(t1))))
            continue;
        PyObject *title = Py_None;
        if (end == NO_MATCH && titled) { /* "Dr Okafor": the title's expression, then the name from the next word */
            PyObject *match = PyObject_CallFunction(self->title_match, "On", text, start);
            if (!match)
                goto error;
            if (match != Py_None) {
                PyObject *title_end = PyObject_CallMethod(match, "end", NULL);
                Py_DECREF(match);
                if (!title_end)
                    goto error;
                Py_ssize_t after = PyLong_AsSsize_t(title_end);
                Py_DECREF(title_end);
                if (after == -1 && PyErr_Occurred())
                    goto error;
                if (after == words[j + 1].start) { /* else no variant may start there (no heads here) */
                    int capital_after = Py_UNICODE_ISUPPER(PyUnicode_READ(scan.kind, scan.data, after)) ? 1 : 0;
                    Candidate next[MAX_CANDIDATES];
                    int m = 0;
                    end = candidates(&scan, j + 1, capital_after, next, &m);
                    if (end == NO_MATCH)
                        end = first_fit(&scan, j + 1, next, m);
                    if (end >= 0) {
                        title = PyUnicode_Substring(text, start, after);
                        if (!title)
                            goto error;
                    }
                }
            } else {
                Py_DECREF(match);
            }
        }
        if (end == NO_MATCH && n)
            end = first_fit(&scan, j, found, n);
        if (end == ERROR) {
            goto error;
        } else if (end == TO_PYTHON || end == UNDEFINED) {
            handed = 1;
            if (append(&out, Py_BuildValue("(nnn)", (Py_ssize_t)j, start, end)) < 0)
                goto error;
        } else if (end >= 0) {
            PyObject *item = Py_BuildValue("(nnO)", start, end, title);
            if (title != Py_None)
                Py_DECREF(title);
            if (append(&out, item) < 0)
                goto error;
            resume = end;
        }
    }
    *handed_out = handed;
    return out ? out : PyList_New(0);
error:
    Py_XDECREF(out);
    return NULL;
}

static PyObject *Scanner_scan(Scanner *self, PyObject *args) {
    PyObject *text, *folded;
    int at, handed = 0;
    if (!PyArg_ParseTuple(args, "UOp:scan", &text, &folded, &at))
        return NULL;
    PyObject *places = scan_text(self, text, folded, at, &handed);
    if (!places || places == Py_None)
        return places;
    PyObject *result = Py_BuildValue("(Oi)", places, handed);
    Py_DECREF(places);
    return result;
}

/* ``text`` with each match of ``places`` replaced as Pseudonymiser._replaced replaces it,
   where ``judged`` (Pseudonymiser._judged: written form -> (pseudonym, rule)) decides each
   without the words around it: (new text, spans); Py_None where one is not judged yet or
   its rule depends on the words around it (Python replaces); NULL on an error */
static PyObject *replaced(PyObject *text, PyObject *places, PyObject *judged) {
    Py_ssize_t count = PyList_GET_SIZE(places), n = PyUnicode_GET_LENGTH(text), last = 0, shift = 0;
    PyObject *pieces = PyList_New(0), *spans = PyList_New(0);
    if (!pieces || !spans)
        goto error;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t start, end;
        PyObject *title;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(places, i), "nnO", &start, &end, &title))
            goto error;
        Py_ssize_t from = start + (title == Py_None ? 0 : PyUnicode_GET_LENGTH(title));
        PyObject *written = PyUnicode_Substring(text, from, end);
        if (!written)
            goto error;
        PyObject *verdict = PyDict_GetItemWithError(judged, written); /* borrowed */
        Py_DECREF(written);
        if (!verdict) {
            if (PyErr_Occurred())
                goto error;
            goto python; /* not judged yet */
        }
        if (!PyTuple_Check(verdict) || PyTuple_GET_SIZE(verdict) != 2)
            goto python;
        PyObject *pseudonym = PyTuple_GET_ITEM(verdict, 0), *rule = PyTuple_GET_ITEM(verdict, 1);
        int at_after = end < n && PyUnicode_READ_CHAR(text, end) == '@';
        if (!(rule == Py_True || title != Py_None || at_after)) {
            if (rule == Py_False)
                continue;
            goto python; /* the words around it decide */
        }
        if (!PyUnicode_Check(pseudonym))
            goto python;
        PyObject *before = PyUnicode_Substring(text, last, start);
        if (!before || PyList_Append(pieces, before) < 0) {
            Py_XDECREF(before);
            goto error;
        }
        Py_DECREF(before);
        if (PyList_Append(pieces, pseudonym) < 0)
            goto error;
        Py_ssize_t length = PyUnicode_GET_LENGTH(pseudonym);
        PyObject *span = Py_BuildValue("(nnnn)", start, end, start + shift, start + shift + length);
        if (!span || PyList_Append(spans, span) < 0) {
            Py_XDECREF(span);
            goto error;
        }
        Py_DECREF(span);
        shift += length - (end - start);
        last = end;
    }
    PyObject *result;
    if (PyList_GET_SIZE(spans) == 0) {
        result = Py_BuildValue("(OO)", text, spans);
    } else {
        PyObject *rest = PyUnicode_Substring(text, last, n);
        if (!rest || PyList_Append(pieces, rest) < 0) {
            Py_XDECREF(rest);
            goto error;
        }
        Py_DECREF(rest);
        PyObject *empty = PyUnicode_New(0, 0);
        PyObject *joined = empty ? PyUnicode_Join(empty, pieces) : NULL;
        Py_XDECREF(empty);
        if (!joined)
            goto error;
        result = Py_BuildValue("(OO)", joined, spans);
        Py_DECREF(joined);
    }
    Py_DECREF(pieces);
    Py_DECREF(spans);
    return result;
python:
    Py_DECREF(pieces);
    Py_DECREF(spans);
    Py_RETURN_NONE;
error:
    Py_XDECREF(pieces);
    Py_XDECREF(spans);
    return NULL;
}

/* apply(text, folded, at, judged) -> (new text, spans) where every place is decided here
   and every match judged (:func:`replaced`); else scan's (places, handed) for Python to
   finish; None as scan gives it */
static PyObject *Scanner_apply(Scanner *self, PyObject *args) {
    PyObject *text, *folded, *judged;
    int at, handed = 0;
    if (!PyArg_ParseTuple(args, "UOpO!:apply", &text, &folded, &at, &PyDict_Type, &judged))
        return NULL;
    PyObject *places = scan_text(self, text, folded, at, &handed);
    if (!places || places == Py_None)
        return places;
    if (!handed && PyList_GET_SIZE(places) == 0) /* no name here (most texts): the empty list is the spans */
        return Py_BuildValue("(ON)", text, places);
    if (!handed) {
        PyObject *done = replaced(text, places, judged);
        if (done != Py_None) {
            Py_DECREF(places);
            return done; /* or NULL: an error */
        }
        Py_DECREF(done);
    }
    PyObject *result = Py_BuildValue("(Oi)", places, handed);
    Py_DECREF(places);
    return result;
}

static PyMethodDef Scanner_methods[] = {
    {"add", (PyCFunction)Scanner_add, METH_VARARGS, "add(strings, flag): set a flag on each (ASCII) string."},
    {"define", (PyCFunction)Scanner_define, METH_VARARGS, "define(letters, variants): the variants these letters spell."},
    {"define_stored", (PyCFunction)Scanner_define_stored, METH_VARARGS,
     "define_stored(by_letters, gap_ids, gap_must, plain_tails, at_tails): the variants of every letters still as stored."},
    {"apply", (PyCFunction)Scanner_apply, METH_VARARGS,
     "apply(text, folded, at, judged): the pseudonymised text and spans, or scan's result for Python to finish."},
    {"define_packed", (PyCFunction)Scanner_define_packed, METH_VARARGS,
     "define_packed(packed, gap_ids, gap_must, heads, tails, tail_kinds): every variant at once, as packed."},
    {"stored", (PyCFunction)Scanner_stored, METH_VARARGS, "stored(letters): the variants of these letters as stored, or None."},
    {"scan", (PyCFunction)Scanner_scan, METH_VARARGS, "scan(text, folded, at): the matches, and the places Python decides."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "casestudy.consent._wordscan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The words of a text met with the variants of the names (see pseudonyms._Index).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

#ifndef WORDSCAN_SOURCE
#define WORDSCAN_SOURCE "" /* built without setup.py: never taken for current */
#endif

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wordscan", "The pseudonymiser's word scan in C (see pseudonyms._Index).", -1, NULL,
};

PyMODINIT_FUNC PyInit__wordscan(void) {
    for (int c = 0; c < 256; c++)
        ascii_fold[c] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : (is_word_char((unsigned char)c) ? (unsigned char)c : ' ');
    if (PyType_Ready(&ScannerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    /* the SHA-256 of this file when it was compiled: pseudonyms.py leaves a stale build unused */
    if (PyModule_AddStringConstant(m, "SOURCE", WORDSCAN_SOURCE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

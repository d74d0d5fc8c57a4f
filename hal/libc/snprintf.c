/* snprintf.c -- vsnprintf/snprintf for bare-metal shards.
 *
 * Integer-only formatting (see include/stdio.h for the accepted subset).
 * Unknown conversions are copied through literally so that a bad format is
 * visible in the output instead of silently consuming arguments.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct out {
    char *buf;
    size_t size;
    size_t len; /* bytes the full output needs, excluding the NUL */
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void pad(struct out *o, char c, int n)
{
    while (n-- > 0)
        put(o, c);
}

struct spec {
    int left;      /* '-' */
    int zero;      /* '0' */
    int width;
    int precision; /* -1 if absent */
};

static void put_str(struct out *o, const struct spec *sp, const char *s)
{
    int n = 0;

    if (!s)
        s = "(null)";
    while (s[n] && (sp->precision < 0 || n < sp->precision))
        n++;
    if (!sp->left)
        pad(o, ' ', sp->width - n);
    for (int i = 0; i < n; i++)
        put(o, s[i]);
    if (sp->left)
        pad(o, ' ', sp->width - n);
}

static void put_num(struct out *o, const struct spec *sp, unsigned long long v, int neg, unsigned base,
                    int upper, const char *prefix)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int nd = 0, plen = 0, zeros, total;

    while (prefix && prefix[plen])
        plen++;
    while (v) {
        tmp[nd++] = digits[v % base];
        v /= base;
    }
    /* C: precision is the minimum digit count; "%.0d" of 0 prints nothing. */
    zeros = sp->precision >= 0 ? sp->precision - nd : (nd == 0 ? 1 : 0);
    if (zeros < 0)
        zeros = 0;
    total = neg + plen + zeros + nd;
    if (sp->zero && !sp->left && sp->precision < 0 && sp->width > total) {
        zeros += sp->width - total;
        total = sp->width;
    }
    if (!sp->left)
        pad(o, ' ', sp->width - total);
    if (neg)
        put(o, '-');
    for (int i = 0; i < plen; i++)
        put(o, prefix[i]);
    pad(o, '0', zeros);
    while (nd)
        put(o, tmp[--nd]);
    if (sp->left)
        pad(o, ' ', sp->width - total);
}

enum lenmod { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE, LEN_MAX, LEN_PTRDIFF };

static unsigned long long arg_unsigned(va_list *ap, enum lenmod lm)
{
    switch (lm) {
    case LEN_CHAR: return (unsigned char)va_arg(*ap, unsigned);
    case LEN_SHORT: return (unsigned short)va_arg(*ap, unsigned);
    case LEN_LONG: return va_arg(*ap, unsigned long);
    case LEN_LLONG: return va_arg(*ap, unsigned long long);
    case LEN_SIZE: return va_arg(*ap, size_t);
    case LEN_MAX: return va_arg(*ap, uintmax_t);
    case LEN_PTRDIFF: return (unsigned long long)va_arg(*ap, ptrdiff_t);
    default: return va_arg(*ap, unsigned);
    }
}

static long long arg_signed(va_list *ap, enum lenmod lm)
{
    switch (lm) {
    case LEN_CHAR: return (signed char)va_arg(*ap, int);
    case LEN_SHORT: return (short)va_arg(*ap, int);
    case LEN_LONG: return va_arg(*ap, long);
    case LEN_LLONG: return va_arg(*ap, long long);
    case LEN_SIZE: return (long long)va_arg(*ap, size_t);
    case LEN_MAX: return va_arg(*ap, intmax_t);
    case LEN_PTRDIFF: return va_arg(*ap, ptrdiff_t);
    default: return va_arg(*ap, int);
    }
}

int vsnprintf(char *restrict buf, size_t size, const char *restrict fmt, va_list ap0)
{
    struct out o = { buf, size, 0 };
    va_list ap;

    va_copy(ap, ap0); /* passed by address below: portable for array-typed va_list */
    for (const char *f = fmt; *f; f++) {
        struct spec sp = { 0, 0, 0, -1 };
        enum lenmod lm = LEN_INT;
        const char *start = f;

        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        f++;
        for (;; f++) {
            if (*f == '-')
                sp.left = 1;
            else if (*f == '0')
                sp.zero = 1;
            else if (*f != ' ' && *f != '+' && *f != '#')
                break;
        }
        if (*f == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.left = 1;
                sp.width = -sp.width;
            }
            f++;
        } else {
            while (*f >= '0' && *f <= '9')
                sp.width = sp.width * 10 + (*f++ - '0');
        }
        if (*f == '.') {
            f++;
            sp.precision = 0;
            if (*f == '*') {
                sp.precision = va_arg(ap, int);
                if (sp.precision < 0)
                    sp.precision = -1;
                f++;
            } else {
                while (*f >= '0' && *f <= '9')
                    sp.precision = sp.precision * 10 + (*f++ - '0');
            }
        }
        switch (*f) {
        case 'h': lm = f[1] == 'h' ? (f++, LEN_CHAR) : LEN_SHORT; f++; break;
        case 'l': lm = f[1] == 'l' ? (f++, LEN_LLONG) : LEN_LONG; f++; break;
        case 'z': lm = LEN_SIZE; f++; break;
        case 'j': lm = LEN_MAX; f++; break;
        case 't': lm = LEN_PTRDIFF; f++; break;
        default: break;
        }
        switch (*f) {
        case 'd':
        case 'i': {
            long long v = arg_signed(&ap, lm);
            unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
            put_num(&o, &sp, mag, v < 0, 10, 0, NULL);
            break;
        }
        case 'u': put_num(&o, &sp, arg_unsigned(&ap, lm), 0, 10, 0, NULL); break;
        case 'x': put_num(&o, &sp, arg_unsigned(&ap, lm), 0, 16, 0, NULL); break;
        case 'X': put_num(&o, &sp, arg_unsigned(&ap, lm), 0, 16, 1, NULL); break;
        case 'p': put_num(&o, &sp, (uintptr_t)va_arg(ap, void *), 0, 16, 0, "0x"); break;
        case 's': put_str(&o, &sp, va_arg(ap, const char *)); break;
        case 'c': {
            char c[2] = { (char)va_arg(ap, int), '\0' };
            sp.precision = -1;
            if (!sp.left)
                pad(&o, ' ', sp.width - 1);
            put(&o, c[0]);
            if (sp.left)
                pad(&o, ' ', sp.width - 1);
            break;
        }
        case '%': put(&o, '%'); break;
        default: /* unknown or truncated: echo it */
            for (const char *p = start; p <= f && *p; p++)
                put(&o, *p);
            if (!*f)
                f--;
            break;
        }
    }
    va_end(ap);
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}

int snprintf(char *restrict buf, size_t size, const char *restrict fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/*
 * logrl: see logrl.h.
 */
#include <string.h>

#include "logrl.h"

uint64_t
logrl_key(int level, const char *msg)
{
	/* FNV-1a, 64 bits, over the level and the text. */
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;

	h = (h ^ (uint64_t)(unsigned)level) * 0x100000001b3ULL;
	for (p = (const unsigned char *)msg; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h != 0 ? h : 1;
}

static struct logrl_slot *
find(struct logrl *rl, uint64_t key)
{
	size_t i;

	for (i = 0; i < LOGRL_SLOTS; i++)
		if (rl->slot[i].key == key)
			return &rl->slot[i];
	return NULL;
}

/*
 * A free slot, else the one whose message went through longest ago,
 * preferring one with no count waiting (a count is lost only when more
 * than LOGRL_SLOTS messages repeat at once).
 */
static struct logrl_slot *
victim(struct logrl *rl)
{
	struct logrl_slot *v = NULL, *s;
	size_t i;

	for (i = 0; i < LOGRL_SLOTS; i++) {
		s = &rl->slot[i];
		if (s->key == 0)
			return s;
		if (v == NULL || (v->suppressed > 0 && s->suppressed == 0) ||
		    ((v->suppressed > 0) == (s->suppressed > 0) &&
		    s->since_ms < v->since_ms))
			v = s;
	}
	return v;
}

bool
logrl_admit(struct logrl *rl, int level, const char *msg, uint64_t now_ms)
{
	uint64_t key = logrl_key(level, msg);
	struct logrl_slot *s;
	size_t n;

	if ((s = find(rl, key)) != NULL &&
	    now_ms - s->since_ms < LOGRL_INTERVAL_MS && now_ms >= s->since_ms) {
		if (s->suppressed++ == 0)
			rl->npending++;
		s->level = level;
		n = strlen(msg);
		if (n >= sizeof(s->text))
			n = sizeof(s->text) - 1;
		memcpy(s->text, msg, n);
		s->text[n] = '\0';
		return false;
	}
	if (s == NULL) {
		s = victim(rl);
		if (s->suppressed > 0)
			rl->npending--;
		memset(s, 0, sizeof(*s));
		s->key = key;
	}
	/*
	 * A count not reported yet stays: logrl_due() says it as soon as
	 * it is called (log.c calls it before every admission).
	 */
	s->since_ms = now_ms;
	return true;
}

size_t
logrl_due(struct logrl *rl, uint64_t now_ms, bool force,
    void (*fn)(void *, int, uint64_t, const char *), void *arg)
{
	struct logrl_slot *s;
	size_t i;

	if (rl->npending == 0)
		return 0;
	for (i = 0; i < LOGRL_SLOTS; i++) {
		s = &rl->slot[i];
		if (s->suppressed == 0)
			continue;
		if (!force && now_ms - s->since_ms < LOGRL_INTERVAL_MS &&
		    now_ms >= s->since_ms)
			continue;
		fn(arg, s->level, s->suppressed, s->text);
		s->suppressed = 0;
		rl->npending--;
	}
	return (size_t)rl->npending;
}

/*
 * workers: what the master and its worker processes share.
 *
 * The master maps one anonymous shared region before it forks the first
 * worker.  Each worker owns one slot of it and writes only that slot's
 * counters; the master writes the slot table (which slot runs which pid)
 * and reads the counters for supervision, systemd's STATUS and the
 * daemon-wide max_connections.  Only plain numbers live here, never
 * pointers: every process maps the region at the same address, but a
 * pointer into one process's heap means nothing in another.
 *
 * Peer sockets: worker W listens on the abstract Unix stream socket
 * "\0wsd.<master pid>.<serial>" (workers_peer_name()), where serial is
 * the slot's spawn serial; other workers connect to it to hand over
 * topic messages.
 */
#ifndef WSD_WORKERS_H
#define WSD_WORKERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WORKERS_MAX	256

enum slot_state {
	SLOT_FREE = 0,
	SLOT_STARTING,		/* forked, loading its configuration */
	SLOT_READY,		/* accepting */
	SLOT_RETIRING,		/* no longer accepting; serves its clients */
};

struct worker_slot {
	_Atomic int		 state;		/* enum slot_state */
	_Atomic int		 pid;
	_Atomic uint32_t	 serial;	/* unique per spawn */
	_Atomic uint64_t	 nconns;	/* connections it holds */
	_Atomic uint64_t	 heartbeat_ms;	/* its loop ran (monotonic) */
	_Atomic int		 number;	/* 0..workers-1, as logged */
	_Atomic uint32_t	 reload_done;	/* last reload_seq it ran */
	_Atomic int		 reload_ok;	/* and how that went */
	uint8_t			 pad_[64 - 44];
};

/* Session ticket keys (tls.h TLS_TICKET_KEY_LEN). */
#define WORKERS_TICKET_KEY_LEN	80

struct worker_shm {
	uint64_t		 node_id;	/* random, per master start */
	/*
	 * TLS session ticket keys: one set for every worker, so that a
	 * client resumes whichever worker it lands on; the master makes a
	 * new set at start and before each reload.
	 */
	uint8_t			 ticket_key[WORKERS_TICKET_KEY_LEN];
	int			 master_pid;
	_Atomic uint32_t	 nslots;	/* slots ever used: scan below */
	_Atomic uint32_t	 reload_seq;	/* SIGHUPs the master sent */
	/* For metrics: the master's reloads and start (Unix ms). */
	_Atomic uint64_t	 reloads_ok, reloads_failed;
	_Atomic uint64_t	 last_reload_ms;
	_Atomic int		 last_reload_ok;
	uint64_t		 start_ms;
	struct worker_slot	 slot[WORKERS_MAX];
};

/* What a worker knows about itself; NULL fields outside a worker. */
struct worker_self {
	struct worker_shm	*shm;
	struct worker_slot	*slot;
	int			 index;		/* slot number */
	int			 number;	/* 0..workers-1 as the user sees */
	uint32_t		 serial;
};

/* This process's identity: all zero/NULL in the master and in -t. */
extern struct worker_self worker_self;

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t	 workers_now_ms(void);
/*
 * How long ago `then` was, seen at `now`: 0 when `then` is later (a
 * worker may beat its heart after the master read its clock).
 */
uint64_t	 workers_age_ms(uint64_t now, uint64_t then);

/* The abstract socket name of a worker; returns the address length. */
size_t		 workers_peer_name(char *buf, size_t size, int master_pid,
		    uint32_t serial);

/* Daemon-wide open connections: the sum over live slots. */
uint64_t	 workers_total_conns(const struct worker_shm *shm);

#endif /* WSD_WORKERS_H */

/*
 * master: the supervising process.  It owns the configuration check and
 * the listening sockets, forks the worker processes (each runs a whole
 * server: its own loop, its own instance of every route), restarts the
 * ones that die, relays signals to them and speaks to systemd for all
 * of them.  It never touches WebSocket traffic.
 */
#ifndef WSD_MASTER_H
#define WSD_MASTER_H

struct wsd_config;

struct master_opts {
	const char	*config_file;
	const char	*plugin_dir_default;
	int		 port_override;		/* -1: none */
};

/*
 * Run the daemon with cfg (checked, plugins included; the master keeps
 * it).  Returns the process exit status: 0 after a clean stop.  In a
 * worker process it returns that worker's exit status instead.
 */
int	master_run(const struct master_opts *o, struct wsd_config *cfg);

#endif /* WSD_MASTER_H */

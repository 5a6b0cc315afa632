/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The COMMAND of `v6trace -- COMMAND`: forked before the BPF programs load,
 * held until its pid is in the kernel side's pid table, then executed, so not
 * one of its binds (nor of its children's) can slip past the tracer.
 */
#ifndef V6TRACE_COMMAND_H
#define V6TRACE_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct command {
	pid_t pid;  /* 0: none */
	int go_fd;  /* write end of the pipe the child waits on */
	int status; /* wait() status, once exited */
	bool exited;
};

/*
 * Whether name is a file execvp() would find (in PATH unless it has a slash):
 * checked before anything is loaded, so that a COMMAND that cannot run is one
 * line and exit 127, as from a shell, not a tracer started for nothing.
 */
bool command_exists(const char *name);
/*
 * Forks the child. Unless as_root, a child of `sudo v6trace` becomes the user
 * who ran sudo (SUDO_UID, SUDO_GID, and that user's groups) before it waits.
 */
int command_spawn(struct command *c, char *const argv[], bool as_root, char *err, size_t errlen);
/* Lets the child run COMMAND. */
int command_release(struct command *c);
/* Reaps the child if it has exited; true once it has. */
bool command_reap(struct command *c);
/*
 * SIGKILLs a COMMAND still running and reaps it (waiting at most a second);
 * false if it had already exited by itself.
 */
bool command_kill(struct command *c);
/* Kills and reaps a child that never ran (tracing could not start). */
void command_abort(struct command *c);
/* Shell convention: the exit code, or 128 + the signal that killed it. */
int command_exit_code(const struct command *c);

#endif

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "command.h"

static bool env_id(const char *name, unsigned long *out)
{
	const char *s = getenv(name);
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && !*end && *out < UINT_MAX;
}

/* In the child: become the user who ran sudo. Returns an errno, or 0. */
static int drop_to_sudo_user(void)
{
	unsigned long uid, gid;
	struct passwd *pw;

	if (!env_id("SUDO_UID", &uid) || !env_id("SUDO_GID", &gid) || uid == 0)
		return 0;
	pw = getpwuid((uid_t)uid);
	if (pw ? initgroups(pw->pw_name, (gid_t)gid) : setgroups(1, &(gid_t){(gid_t)gid}))
		return errno;
	if (setgid((gid_t)gid) || setuid((uid_t)uid))
		return errno;
	if (pw) {
		setenv("HOME", pw->pw_dir, 1);
		setenv("USER", pw->pw_name, 1);
		setenv("LOGNAME", pw->pw_name, 1);
	}
	return 0;
}

/*
 * COMMAND starts as if from a shell's foreground: every signal at its default
 * and none blocked, whatever v6trace inherited (a background job's SIG_IGN on
 * SIGINT and SIGQUIT, say) or set for itself.
 */
static void default_signals(void)
{
	sigset_t none;
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* SIGKILL, SIGSTOP and the unused ones: EINVAL, fine */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child(int go_fd, char *const argv[], bool as_root)
{
	char go;
	int err;

	default_signals();
	err = as_root ? 0 : drop_to_sudo_user();
	if (err) {
		fprintf(stderr, "v6trace: cannot become the sudo user to run %s: %s\n", argv[0],
			strerror(err));
		_exit(126);
	}
	if (read(go_fd, &go, 1) != 1) /* the tracer did not start: never run */
		_exit(127);
	close(go_fd);
	execvp(argv[0], argv);
	err = errno;
	fprintf(stderr, "v6trace: cannot run %s: %s\n", argv[0], strerror(err));
	_exit(err == ENOENT ? 127 : 126);
}

bool command_exists(const char *name)
{
	const char *path = getenv("PATH"), *next;
	char full[PATH_MAX];
	struct stat st;

	if (!*name)
		return false;
	if (strchr(name, '/'))
		return !stat(name, &st) && !S_ISDIR(st.st_mode);
	for (path = path ? path : "/bin:/usr/bin"; path; path = next ? next + 1 : NULL) {
		int len;

		next = strchr(path, ':');
		len = next ? (int)(next - path) : (int)strlen(path);
		/* an empty entry is the current directory, as execvp() takes it */
		if (snprintf(full, sizeof(full), "%.*s/%s", len ? len : 1, len ? path : ".",
			     name) >= (int)sizeof(full))
			continue;
		if (!stat(full, &st) && !S_ISDIR(st.st_mode))
			return true;
	}
	return false;
}

int command_spawn(struct command *c, char *const argv[], bool as_root, char *err, size_t errlen)
{
	int fds[2];

	memset(c, 0, sizeof(*c));
	c->go_fd = -1;
	if (pipe2(fds, O_CLOEXEC)) {
		snprintf(err, errlen, "cannot start %s: pipe: %s", argv[0], strerror(errno));
		return -errno;
	}
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0) {
		snprintf(err, errlen, "cannot start %s: fork: %s", argv[0], strerror(errno));
		close(fds[0]);
		close(fds[1]);
		c->pid = 0;
		return -errno;
	}
	if (c->pid == 0) {
		close(fds[1]);
		child(fds[0], argv, as_root);
	}
	close(fds[0]);
	c->go_fd = fds[1];
	return 0;
}

int command_release(struct command *c)
{
	ssize_t n = write(c->go_fd, "g", 1);

	close(c->go_fd);
	c->go_fd = -1;
	return n == 1 ? 0 : -EPIPE;
}

bool command_reap(struct command *c)
{
	if (c->pid && !c->exited && waitpid(c->pid, &c->status, WNOHANG) == c->pid)
		c->exited = true;
	return c->exited;
}

bool command_kill(struct command *c)
{
	int waited_ms;

	if (!c->pid || command_reap(c))
		return false;
	kill(c->pid, SIGKILL);
	for (waited_ms = 0; waited_ms < 1000 && !command_reap(c); waited_ms += 10)
		usleep(10000);
	return true;
}

void command_abort(struct command *c)
{
	if (c->go_fd >= 0) { /* EOF on the pipe: the child exits without running */
		close(c->go_fd);
		c->go_fd = -1;
	}
	if (c->pid && !c->exited && waitpid(c->pid, &c->status, 0) == c->pid)
		c->exited = true;
}

int command_exit_code(const struct command *c)
{
	if (WIFSIGNALED(c->status))
		return 128 + WTERMSIG(c->status);
	return WEXITSTATUS(c->status);
}

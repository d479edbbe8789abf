/*
 * stilalarm client-id plugin for mosquitto 2.0 (plugin API v5).
 *
 * Binds every MQTT client id to its login: a connection is refused unless its client id is
 * the username itself, or the username + SEP + any suffix, where SEP (plugin_opt_separator,
 * rendered from broker_config/identity.py) is a character that cannot occur in a username.
 * Without this, mosquitto accepts any valid login with any client id and then drops the
 * client that held that id: one desk unit's password with client id `console` cuts the
 * console off from every alarm.
 *
 * It only ever refuses. When the client id fits, it answers MOSQ_ERR_PLUGIN_DEFER and the
 * broker goes on to its password_file check (mosquitto 2.0.11 src/security.c
 * mosquitto_unpwd_check: plugins are loaded, and register their MOSQ_EVT_BASIC_AUTH
 * callback, before security_default.c appends the password-file callback to the same list;
 * the first answer other than DEFER decides). The takeover of an existing session
 * (connect__on_authorised) only happens after that check has passed.
 *
 * Built by `alarm-broker render` (broker_config/plugin.py) from this file; do not copy a
 * binary around. Options:
 *   plugin_opt_separator X   required, one character; mosquitto refuses to start without it.
 */
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id = NULL;
static char separator = '\0';

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	(void)supported_version_count;
	(void)supported_versions;
	return 5;
}

/* 1 when `id` is `user` or `user` SEP suffix, and `user` itself holds no SEP. */
static int id_belongs_to(const char *id, const char *user)
{
	size_t n = strlen(user);
	if(n == 0 || strchr(user, separator) != NULL){
		return 0;
	}
	if(strncmp(id, user, n) != 0){
		return 0;
	}
	return id[n] == '\0' || id[n] == separator;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *id = mosquitto_client_id(ed->client);
	const char *user = ed->username;
	(void)event;
	(void)userdata;

	if(user == NULL || id == NULL){
		mosquitto_log_printf(MOSQ_LOG_WARNING,
				"stilalarm-clientid: refused a connection without a username (client id '%s')",
				id ? id : "");
		return MOSQ_ERR_AUTH;
	}
	if(id_belongs_to(id, user)){
		return MOSQ_ERR_PLUGIN_DEFER; /* the password file decides */
	}
	mosquitto_log_printf(MOSQ_LOG_WARNING,
			"stilalarm-clientid: refused user '%s' with client id '%s': a client id must be "
			"the username or start with the username followed by '%c'",
			user, id, separator);
	return MOSQ_ERR_AUTH;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *options, int option_count)
{
	int i;
	(void)userdata;

	for(i = 0; i < option_count; i++){
		if(strcmp(options[i].key, "separator") == 0){
			if(options[i].value == NULL || strlen(options[i].value) != 1){
				mosquitto_log_printf(MOSQ_LOG_ERR,
						"stilalarm-clientid: plugin_opt_separator must be exactly one character");
				return MOSQ_ERR_INVAL;
			}
			separator = options[i].value[0];
		}
	}
	if(separator == '\0'){
		mosquitto_log_printf(MOSQ_LOG_ERR,
				"stilalarm-clientid: plugin_opt_separator is missing; render the config with "
				"`alarm-broker render`");
		return MOSQ_ERR_INVAL;
	}
	plugin_id = identifier;
	mosquitto_log_printf(MOSQ_LOG_NOTICE,
			"stilalarm-clientid: client ids are bound to usernames (separator '%c')", separator);
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	if(plugin_id != NULL){
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	}
	return MOSQ_ERR_SUCCESS;
}

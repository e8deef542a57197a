#!/bin/sh
# Starts one node of the compose cluster (deploy/compose/cluster.yml), as the rabbitmq user.
#
# The Erlang cookie, which lets the three nodes talk to each other, comes from the compose secret
# `erlang-cookie` (/run/secrets/erlang-cookie): Erlang wants it in $HOME/.erlang.cookie, readable
# by its owner only, so it is copied there at each start. The node's configuration is
# rabbitmq.conf with cluster.conf (peer discovery, partition handling) appended.
set -eu
umask 077
rm -f "$HOME/.erlang.cookie"
cp /run/secrets/erlang-cookie "$HOME/.erlang.cookie"
chmod 400 "$HOME/.erlang.cookie"
cat /etc/rabbitmq/interplay/rabbitmq.conf /etc/rabbitmq/interplay/cluster.conf \
    >"$HOME/rabbitmq.conf"
export RABBITMQ_CONFIG_FILE="$HOME/rabbitmq.conf"
exec /usr/lib/rabbitmq/bin/rabbitmq-server

"""The SSH gateway: sshd's AuthorizedKeysCommand, the forced command and the pre-receive hook.
All of it talks to the controller over HTTP with the gateway token."""

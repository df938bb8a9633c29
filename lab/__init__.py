"""The network lab: namespaces for regions, routers and the landing station, joined by emulated
submarine cables (TUN devices and a user-space link emulator), cut and degraded on demand."""

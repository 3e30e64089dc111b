"""Security helpers shared by every component: secret files, exposure of local listeners."""

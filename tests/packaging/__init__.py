"""What pullinfra ships besides the package: the Helm chart and the container image."""

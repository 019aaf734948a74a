"""Running the center: closures, hall hours and scope, management figures, networked banks."""

"""GPIO deterrents (siren, floodlight, sprinkler) built from gpiozero parts, safe by construction."""

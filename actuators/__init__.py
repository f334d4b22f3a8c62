"""GPIO deterrents (siren, floodlight, sprinkler) from gpiozero parts, safe by construction."""

// placeholder until the codec tests land

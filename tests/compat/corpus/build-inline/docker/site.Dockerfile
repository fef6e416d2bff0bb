FROM nginx:1.27
COPY . /usr/share/nginx/html/

FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY smartcity smartcity
COPY market market
COPY community community
COPY gateway gateway
COPY accounts accounts
COPY webkit webkit
COPY messaging messaging
COPY relational relational
COPY config config
COPY devices devices
RUN pip install --no-cache-dir .
ENV SC_HTTP_HOST=0.0.0.0 SC_DATA_DIR=/data SC_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["smartcity"]
CMD ["gateway"]
